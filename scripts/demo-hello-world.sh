# Part of scripts/demo.sh (sourced): tutorial 1, Hello World! (the guide's scenario: hello-world/README.md)
echo
echo "=== Hello World!  (hello-world/)"
log="$bin/receive.log"
start receive "$log"
recv=${pids[-1]}
wait_line "$log" "Waiting for messages"
echo "--- terminal 2: go run ./hello-world/send; go run ./hello-world/send Hi there"
"$bin/send" | sed 's/^/    /'
"$bin/send" Hi there | sed 's/^/    /'
wait_line "$log" "Received Hi there"
stop "$recv"
show "terminal 1: go run ./hello-world/receive   (stopped with Ctrl+C)" "$log"
