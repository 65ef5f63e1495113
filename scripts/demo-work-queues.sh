# Part of scripts/demo.sh (sourced): tutorial 2, Work Queues.
# Two workers share five tasks; each dot of a task is 200ms of work here (-dot), 1s by default.
echo
echo "=== Work Queues  (work-queues/)"
log1="$bin/worker1.log"
log2="$bin/worker2.log"
# One worker after the other, as in two terminals: RabbitMQ 4.0 can refuse a consume (541 INTERNAL_ERROR)
# on a quorum queue that another connection declared a few milliseconds before.
start worker "$log1" -dot 200ms
w1=${pids[-1]}
wait_line "$log1" "Waiting for messages"
start worker "$log2" -dot 200ms
w2=${pids[-1]}
wait_line "$log2" "Waiting for messages"
echo "--- terminal 3: go run ./work-queues/new_task First message.   (and so on)"
tasks=("First message." "Second message.." "Third message..." "Fourth message...." "Fifth message.....")
for task in "${tasks[@]}"; do
	# shellcheck disable=SC2086 # split the task into words, as typed on a command line
	"$bin/new_task" $task | sed 's/^/    /'
done
# Wait (up to 30s) until the workers together have done every task.
for _ in $(seq 300); do
	[[ $(cat "$log1" "$log2" | grep -c 'Done') -ge ${#tasks[@]} ]] && break
	sleep 0.1
done
if [[ $(cat "$log1" "$log2" | grep -c 'Done') -lt ${#tasks[@]} ]]; then
	echo "demo: the workers did not finish the ${#tasks[@]} tasks:" >&2
	cat "$log1" "$log2" >&2
	exit 1
fi
stop "$w1"
stop "$w2"
show "terminal 1: go run ./work-queues/worker   (stopped with Ctrl+C)" "$log1"
show "terminal 2: go run ./work-queues/worker   (stopped with Ctrl+C)" "$log2"
