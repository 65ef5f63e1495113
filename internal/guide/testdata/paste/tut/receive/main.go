// Command receive prints the messages of the "hello" queue.
package main

import (
	"fmt"
	"os"

	"github.com/rabbitmq-tutorials-go/tutorials/rabbit"
)

func main() {
	// Connect, as send does.
	conn, err := rabbit.Dial("receive")
	if err != nil {
		fmt.Fprintln(os.Stderr, "receive:", err)
		os.Exit(1)
	}
	defer conn.Close()
}
