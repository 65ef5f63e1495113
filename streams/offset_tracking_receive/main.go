// Command offset_tracking_receive reads a stream up to a "marker", keeping its offset in a file: "Offset Tracking".
// Usage: go run ./streams/offset_tracking_receive [-stream stream-offset-tracking-go] [-offset-file FILE] [-offset first|next|N] [-store-every 10]
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
	amqp "github.com/rabbitmq/amqp091-go"
)

var (
	stream   = flag.String("stream", "stream-offset-tracking-go", "the stream to read")
	file     = flag.String("offset-file", "", "where the last processed offset is kept (default STREAM.offset)")
	from     = flag.String("offset", "", "where to start instead of after the stored offset: first, next, an offset...")
	every    = flag.Int("store-every", 10, "store the offset after every this many messages (and at the marker)")
	prefetch = flag.Int("prefetch", 100, "how many unacknowledged messages the broker may send us")
)

func main() { rabbit.Main("offset_tracking_receive", run) }

func run(ctx context.Context) error {
	conn, err := rabbit.Dial(rabbit.URL(), "streams/offset_tracking_receive")
	if err != nil {
		return err
	}
	defer rabbit.Close(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}
	q, err := ch.QueueDeclare(
		*stream, // name
		true,    // durable
		false,   // delete when unused
		false,   // exclusive
		false,   // no-wait
		amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeStream, // arguments
			amqp.StreamMaxLenBytesArg: int64(2_000_000_000), "x-queue-leader-locator": "least-leaders"},
	)
	if err != nil {
		return rabbit.DeclareError("queue", *stream, err)
	}

	// AMQP 0-9-1 has no place on the broker for a consumer's offset: we keep it in a file. With none
	// stored we start at the first message, else right after the last one processed.
	*file = cmp.Or(*file, *stream+".offset")
	var start any = "first"
	if stored, ok, err := loadOffset(*file); err != nil {
		return err
	} else if ok {
		start = stored + 1
	}
	// -offset overrides it: an offset, a time, or a word (before 4.3 the broker answers a bad one with a bare 541).
	if n, err := strconv.ParseUint(*from, 10, 63); err == nil {
		start = int64(n)
	} else if t, err := time.Parse(time.RFC3339, *from); err == nil {
		start = t
	} else if regexp.MustCompile(`^(first|last|next|[0-9]+[YMDhms])$`).MatchString(*from) {
		start = *from
	} else if *from != "" {
		return fmt.Errorf("-offset %q: want first, last, next, an offset (42), a time (RFC 3339) or an age (30s, 10m, 2h, 7D)", *from)
	}

	// Set a prefetch limit and attach at start, as the Hello World receive does.
	if err := ch.Qos(*prefetch, 0, false /* prefetch count, size, global */); err != nil {
		return fmt.Errorf("set prefetch: %w", err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	cancelled := ch.NotifyCancel(make(chan string, 1))
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
	fmt.Println("Started consuming...")

	// Process each message and ack it. Every -store-every messages, at the marker and on Ctrl+C, store
	// the last offset processed: the next run reads again at most what came since, and skips nothing.
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
				return rabbit.Ended(closed, cancelled, fmt.Sprintf("stream %q was deleted", q.Name))
			}
			offset, _ := d.Headers["x-stream-offset"].(int64) // a stream's deliveries all have it
			if first < 0 {
				first = offset
				fmt.Println("First message received.")
			}
			last, count = offset, count+1
			if err := d.Ack(false /* multiple */); err != nil {
				return fmt.Errorf("ack: %w", err)
			}
			marker := string(d.Body) == "marker"
			if count%max(*every, 1) == 0 || marker {
				if err := storeOffset(*file, offset); err != nil {
					return err
				}
			}
			if marker {
				fmt.Printf("Done consuming, first offset %d, last offset %d.\n", first, last)
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
	if offset, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil || offset < 0 {
		return 0, false, fmt.Errorf("%s does not hold an offset (%q): delete it to start from the first message", path, b)
	}
	return offset, true, nil
}

// storeOffset replaces the file at path so that a crash leaves the old offset or the new one, never a
// torn file: write a file beside it, flush it to disk, then rename it over the old one.
func storeOffset(path string, offset int64) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err == nil {
		defer os.Remove(tmp.Name()) // fails, harmlessly, once renamed
		_, err = fmt.Fprintf(tmp, "%d\n", offset)
		if err = errors.Join(err, tmp.Sync(), tmp.Close()); err == nil {
			err = os.Rename(tmp.Name(), path)
		}
	}
	if err != nil {
		return fmt.Errorf("store the offset in %s: %w", path, err)
	}
	return nil
}
