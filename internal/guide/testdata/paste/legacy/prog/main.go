// Command prog connects with the old helper, internal/broker.
package main

import (
	"fmt"
	"os"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/broker"
)

func main() {
	// Connect.
	conn, err := broker.Dial("prog")
	if err != nil {
		fmt.Fprintln(os.Stderr, "prog:", err)
		os.Exit(1)
	}
	defer conn.Close()
}
