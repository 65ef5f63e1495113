# Part of scripts/demo.sh (sourced): tutorial 3, Publish/Subscribe.
# Two receivers each get their own copy of one message sent to the fanout exchange "logs".
echo
echo "=== Publish/Subscribe  (publish-subscribe/)"
log1="$bin/receive_logs1.log"
log2="$bin/receive_logs2.log"
start receive_logs "$log1"
r1=${pids[-1]}
start receive_logs "$log2"
r2=${pids[-1]}
wait_line "$log1" "Waiting for logs"
wait_line "$log2" "Waiting for logs"
echo "--- terminal 3: go run ./publish-subscribe/emit_log"
"$bin/emit_log" | sed 's/^/    /'
wait_line "$log1" "[x] info: Hello World!"
wait_line "$log2" "[x] info: Hello World!"
stop "$r1"
stop "$r2"
show "terminal 1: go run ./publish-subscribe/receive_logs > logs_from_rabbit.log   (stopped with Ctrl+C)" "$log1"
show "terminal 2: go run ./publish-subscribe/receive_logs   (stopped with Ctrl+C)" "$log2"
