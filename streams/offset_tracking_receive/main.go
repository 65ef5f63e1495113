// Command offset_tracking_receive reads the stream "stream-offset-tracking-go" over AMQP 0-9-1 up to
// a "marker" message, and keeps the offset of the last message it processed in a file, so that its
// next run starts right after it. It is step two of the RabbitMQ stream tutorials ("Offset
// Tracking"): the consumer.
//
// Usage:
//
//	go run ./streams/offset_tracking_receive [-stream stream-offset-tracking-go] [-offset-file FILE] [-offset first|next|N]
//
// It prints the first and last offsets it read, then exits 0; Ctrl+C stores the offset reached and
// exits 0. The broker is taken from AMQP_URL (default amqp://guest:guest@localhost:5672/).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func main() { rabbit.Main("offset_tracking_receive", run) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("offset_tracking_receive", flag.ContinueOnError)
	stream := flags.String("stream", "stream-offset-tracking-go", "the stream to read")
	file := flags.String("offset-file", "", "where the last processed offset is kept (default STREAM.offset)")
	from := flags.String("offset", "", "where to start instead of after the stored offset: first, next or an offset")
	every := flags.Int("store-every", 10, "store the offset after every this many messages (and at the marker)")
	prefetch := flags.Int("prefetch", 100, "how many unacknowledged messages the broker may send us")
	if err := rabbit.Parse(flags, args, stdout, "offset_tracking_receive [-stream NAME] [-offset-file FILE] [-offset first|next|N] [-store-every 10]"); err != nil {
		return err
	}
	if err := rabbit.Within("store-every", *every, 1, 1_000_000); err != nil {
		return err
	}
	if err := rabbit.Within("prefetch", *prefetch, 1, 65535); err != nil {
		return err
	}
	if *file == "" {
		*file = *stream + ".offset"
	}

	// AMQP 0-9-1 has no place on the broker for a consumer's offset: we keep it ourselves. With none
	// stored we start at the first message; otherwise right after the last one we processed.
	var start any = "first"
	if stored, ok, err := loadOffset(*file); err != nil {
		return err
	} else if ok {
		start = stored + 1
	}
	switch {
	case *from == "first" || *from == "next":
		start = *from
	case *from != "":
		n, err := strconv.ParseInt(*from, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("-offset %q: want first, next or an offset (42)", *from)
		}
		start = n
	}

	// Connect, declare the stream and set a prefetch limit, as the Hello World receive does.
	conn, err := rabbit.Dial("streams/offset_tracking_receive")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	q, err := ch.QueueDeclare(
		*stream, // name
		true,    // durable
		false,   // delete when unused
		false,   // exclusive
		false,   // no-wait
		amqp.Table{
			amqp.QueueTypeArg:         amqp.QueueTypeStream,
			amqp.StreamMaxLenBytesArg: int64(2_000_000_000),
			"x-queue-leader-locator":  "least-leaders",
		}, // arguments
	)
	if err != nil {
		return rabbit.DeclareError("queue", *stream, err)
	}
	if err := ch.Qos(
		*prefetch, // prefetch count: required on a stream
		0,         // prefetch size
		false,     // global
	); err != nil {
		return fmt.Errorf("set prefetch: %w", err)
	}

	// Attach where we chose to start: x-stream-offset takes "first", "next" or an offset.
	c := rabbit.NewConsumer(conn, ch, q.Name)
	msgs, err := ch.Consume(
		q.Name,                               // queue
		"",                                   // consumer tag
		false,                                // auto-ack: refused by streams
		false,                                // exclusive
		false,                                // no-local
		false,                                // no-wait
		amqp.Table{"x-stream-offset": start}, // args
	)
	if err != nil {
		return fmt.Errorf("consume from %q: %s", q.Name, rabbit.FirstLine(err.Error()))
	}
	fmt.Fprintln(stdout, "Started consuming...")

	// Process each message, then ack it (which hands credit back). Every few messages, and at the
	// marker, store the offset of the last one processed: after a crash, the next run reads again at
	// most the messages since the last store, and skips none.
	first, last, count := int64(-1), int64(-1), 0
	for {
		select {
		case <-ctx.Done():
			if last >= 0 {
				if err := storeOffset(*file, last); err != nil {
					return err
				}
			}
			return rabbit.Close(conn)
		case d, ok := <-msgs:
			if !ok {
				return c.Ended()
			}
			offset, ok := d.Headers["x-stream-offset"].(int64)
			if !ok {
				return fmt.Errorf("a delivery without an x-stream-offset header: is %q a stream?", q.Name)
			}
			if first < 0 {
				first = offset
				fmt.Fprintln(stdout, "First message received.")
			}
			last, count = offset, count+1
			if err := d.Ack(
				false, // multiple
			); err != nil {
				return fmt.Errorf("ack: %w", err)
			}
			marker := string(d.Body) == "marker"
			if count%*every == 0 || marker {
				if err := storeOffset(*file, offset); err != nil {
					return err
				}
			}
			if marker {
				fmt.Fprintf(stdout, "Done consuming, first offset %d, last offset %d.\n", first, last)
				return rabbit.Close(conn)
			}
		}
	}
}

// loadOffset reads the offset stored in path; ok is false when there is none yet.
func loadOffset(path string) (offset int64, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	} else if err != nil {
		return 0, false, fmt.Errorf("read the stored offset: %w", err)
	}
	offset, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || offset < 0 {
		return 0, false, fmt.Errorf("%s does not hold an offset (%q): delete it to start from the first message", path, b)
	}
	return offset, true, nil
}

// storeOffset replaces the offset stored in path so that a crash at any moment leaves the old offset
// or the new one, never a torn or empty file: write a temporary file beside it, flush it to the disk,
// rename it over the old one, and flush the folder, which holds the rename.
func storeOffset(path string, offset int64) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("store the offset: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails, harmlessly, once renamed
	_, err = fmt.Fprintf(tmp, "%d\n", offset)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		var d *os.File
		if d, err = os.Open(dir); err == nil {
			err = d.Sync()
			d.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("store the offset in %s: %w", path, err)
	}
	return nil
}
