# Part of scripts/demo.sh (sourced): tutorial 6, RPC, as the guide runs it. A server answers the
# tutorial's fib(30), fib(100) (past what an int64 holds), three calls at once, and refuses 10001.
echo
echo "=== RPC  (rpc/)"
log="$bin/rpc_server.log"
start rpc_server "$log"
server=${pids[-1]}
wait_line "$log" "Awaiting RPC requests"
for args in "" "100" "91 92 93"; do
	echo "--- terminal 2: go run ./rpc/rpc_client${args:+ $args}"
	# shellcheck disable=SC2086 # the numbers are separate arguments
	"$bin/rpc_client" $args | sed 's/^/    /'
done
echo "--- terminal 2: go run ./rpc/rpc_client 10001   (refused: exit status 1)"
if "$bin/rpc_client" 10001 >"$bin/rpc_client.log" 2>&1; then
	echo "demo: rpc_client 10001 should have been refused" >&2
	exit 1
fi
sed 's/^/    /' "$bin/rpc_client.log"
stop "$server"
show "terminal 1: go run ./rpc/rpc_server   (stopped with Ctrl+C)" "$log"
