# Part of scripts/demo.sh (sourced): tutorial 1, Hello World!
echo
echo "=== Hello World!  (hello-world/)"
log="$bin/receive.log"
start receive "$log"
recv=${pids[-1]}
wait_line "$log" "Waiting for messages"
echo "--- terminal 2: go run ./hello-world/send"
"$bin/send" | sed 's/^/    /'
wait_line "$log" "Received Hello World!"
stop "$recv"
show "terminal 1: go run ./hello-world/receive   (stopped with Ctrl+C)" "$log"
