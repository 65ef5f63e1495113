// Package rabbit is a stand-in for the repository's shared helper (rabbit/rabbit.go): two of its
// functions.
package rabbit

import (
	"cmp"
	"fmt"
	"os"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Dial connects to the broker in AMQP_URL.
func Dial(name string) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	return amqp.DialConfig(cmp.Or(os.Getenv("AMQP_URL"), "amqp://guest:guest@localhost:5672/"),
		amqp.Config{Properties: props})
}

// DeclareError says why declaring a queue or exchange failed.
func DeclareError(kind, name string, err error) error {
	return fmt.Errorf("declare %s %q: %w", kind, name, err)
}
