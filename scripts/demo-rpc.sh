# Part of scripts/demo.sh (sourced): tutorial 6, RPC.
# A server answers two requests: the tutorial's fib(30), then fib(100), past what an int64 holds.
echo
echo "=== RPC  (rpc/)"
log="$bin/rpc_server.log"
start rpc_server "$log"
server=${pids[-1]}
wait_line "$log" "Awaiting RPC requests"
echo "--- terminal 2: go run ./rpc/rpc_client"
"$bin/rpc_client" | sed 's/^/    /'
echo "--- terminal 2: go run ./rpc/rpc_client 100"
"$bin/rpc_client" 100 | sed 's/^/    /'
stop "$server"
show "terminal 1: go run ./rpc/rpc_server   (stopped with Ctrl+C)" "$log"
