# Part of scripts/demo.sh (sourced): Retries that wait, and dead letters (retries/).
# A task that fails twice, one that always fails, then the dead one moved back. Each dot is 10ms here.
# The programs are built apart: their names (new_task, worker) are Work Queues' too.
echo
echo "=== Retries  (retries/)"
rbin="$bin/retries"
mkdir -p "$rbin"
go build -o "$rbin/" ./retries/new_task ./retries/worker ./retries/move_dead
rlog="$bin/retries-worker.log"
start_retries() {
	"$rbin/worker" -dot 10ms >"$rlog" 2>&1 &
	pids+=($!)
}
start_retries
rw=${pids[-1]}
wait_line "$rlog" "Waiting for messages"
echo "--- terminal 2: go run ./retries/new_task charge.!!   then   poison"
"$rbin/new_task" 'charge.!!' | sed 's/^/    /'
wait_line "$rlog" " [x] Done"
"$rbin/new_task" poison | sed 's/^/    /'
wait_line "$rlog" "Failed on delivery 5 of 5"
stop "$rw"
show "terminal 1: go run ./retries/worker   (stopped with Ctrl+C)" "$rlog"
echo "--- go run ./retries/move_dead"
"$rbin/move_dead" | sed 's/^/    /'
# The moved task is back in retry_queue: a worker parks it again, so that the next run starts as this one
# did but for the one task in retry_queue.dead.
start_retries
rw=${pids[-1]}
wait_line "$rlog" "Failed on delivery 5 of 5"
stop "$rw"
