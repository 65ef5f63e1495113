# Part of scripts/demo.sh (sourced): Retries that wait, and dead letters (retries/).
# A task that fails twice, one that always fails, then the dead one moved back. Each dot is 10ms here.
# The programs run on queues of the demo's own (-queue), deleted at the end: a user's retry_queue and
# retry_queue.dead are left alone. Its name is shown as retry_queue, so that each run prints the same.
# The programs are built apart: their names (new_task, worker) are Work Queues' too.
echo
echo "=== Retries  (retries/, on queues of the demo's own, shown as retry_queue)"
rbin="$bin/retries"
mkdir -p "$rbin"
go build -o "$rbin/" ./retries/new_task ./retries/worker ./retries/move_dead
rq="retry_queue.demo-$$-$RANDOM"
as_shown() { sed -e "s/$rq/retry_queue/g" -e 's/^/    /'; }
rlog="$bin/retries-worker.log"
"$rbin/worker" -dot 10ms -queue "$rq" >"$rlog" 2>&1 &
rw=$!
pids+=("$rw")
wait_line "$rlog" "Waiting for messages"
echo "--- terminal 2: go run ./retries/new_task charge.!!   then   poison"
"$rbin/new_task" -queue "$rq" 'charge.!!' | as_shown
wait_line "$rlog" " [x] Done"
"$rbin/new_task" -queue "$rq" poison | as_shown
wait_line "$rlog" "Failed on delivery 5 of 5"
stop "$rw"
echo "--- terminal 1: go run ./retries/worker   (stopped with Ctrl+C)"
as_shown <"$rlog"
# Before 4.3 the worker parks the task with a confirm; on 4.3 the broker dead-letters it: wait for it.
"$rbin/move_dead" -queue "$rq" >"$rbin/move_dead.log" 2>&1
for _ in $(seq 50); do
	grep -q "1 moved back" "$rbin/move_dead.log" && break
	sleep 0.1
	"$rbin/move_dead" -queue "$rq" >>"$rbin/move_dead.log" 2>&1
done
echo "--- go run ./retries/move_dead"
grep -v "0 moved back" "$rbin/move_dead.log" | as_shown
# Delete the demo's queues, with the programs' own helper to dial.
cat >"$rbin/cleanup.go" <<'GO'
package main

import (
	"errors"
	"fmt"
	"os"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func main() {
	conn, err := rabbit.Dial(rabbit.URL(), "demo-cleanup")
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	defer rabbit.Close(conn)
	for _, name := range os.Args[1:] {
		ch, err := conn.Channel()
		if err == nil {
			_, err = ch.QueueDelete(name, false, false, false)
		}
		var aerr *amqp.Error
		if err != nil && !(errors.As(err, &aerr) && aerr.Code == amqp.NotFound) { // no .wait on 4.3
			fmt.Fprintln(os.Stderr, "demo: delete", name+":", err)
			os.Exit(1)
		}
	}
}
GO
go run "$rbin/cleanup.go" "$rq" "$rq.dead" "$rq.wait"
