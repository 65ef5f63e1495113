# Part of scripts/demo.sh (sourced): the stream tutorials over AMQP 0-9-1 (streams/README.md's scenario),
# on streams of the demo's own, deleted at the end: the tutorial's named streams are left alone.
echo
echo "=== Streams: Hello World! and Offset Tracking  (streams/)"
sbin="$bin/streams"
mkdir -p "$sbin"
# streams/send and streams/receive share their names with hello-world's: built apart.
go build -o "$sbin/" ./streams/...
demo_id="demo-$$-$RANDOM"
hello="hello-go-stream.$demo_id" tracking="stream-offset-tracking-go.$demo_id"
offsets="$sbin/tracking.offset"
echo "--- go run ./streams/send; go run ./streams/send Hi there   (stream $hello)"
"$sbin/send" -stream "$hello" | sed 's/^/    /'
"$sbin/send" -stream "$hello" Hi there | sed 's/^/    /'
log="$sbin/receive.log"
"$sbin/receive" -stream "$hello" >"$log" 2>&1 &
recv=$!
pids+=("$recv")
wait_line "$log" "Hi there (offset 1)"
stop "$recv"
show "go run ./streams/receive   (stopped with Ctrl+C)" "$log"
for wave in 1 2; do
	echo "--- wave $wave: go run ./streams/offset_tracking_send; go run ./streams/offset_tracking_receive"
	"$sbin/offset_tracking_send" -stream "$tracking" | sed 's/^/    /'
	"$sbin/offset_tracking_receive" -stream "$tracking" -offset-file "$offsets" | sed 's/^/    /'
done
# Delete the demo's streams, with the programs' own helper to dial.
cat >"$sbin/cleanup.go" <<'GO'
package main

import (
	"fmt"
	"os"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func main() {
	conn, err := rabbit.Dial(rabbit.URL(), "demo-cleanup")
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	for _, name := range os.Args[1:] {
		if _, err := ch.QueueDelete(name, false, false, false); err != nil {
			fmt.Fprintln(os.Stderr, "demo: delete", name+":", err)
			os.Exit(1)
		}
	}
}
GO
go run "$sbin/cleanup.go" "$hello" "$tracking"
