package e2e

import (
	"fmt"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Stream is a stream name of the test's own (see UniqueName), deleted when the test ends: the streams
// tests pass it to the programs by flag, and never touch the tutorials' named streams.
func Stream(t testing.TB, prefix string) string {
	t.Helper()
	name := UniqueName(t, prefix)
	cleanUp(t, fmt.Sprintf("delete stream %q after the test", name), func(ch *amqp.Channel) error {
		_, err := ch.QueueDelete(name, false, false, false)
		return err
	})
	return name
}

// StreamArgs are the arguments the streams tutorial declares its streams with, as the stream
// protocol's Go client declares them for the official tutorials.
var StreamArgs = amqp.Table{
	amqp.QueueTypeArg:         amqp.QueueTypeStream,
	amqp.StreamMaxLenBytesArg: int64(2_000_000_000),
	"x-queue-leader-locator":  "least-leaders",
}
