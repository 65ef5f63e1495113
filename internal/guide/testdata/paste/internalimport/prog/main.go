// Command prog imports a package of the repository a reader cannot import.
package main

import (
	"fmt"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
)

func main() {
	fmt.Println(e2e.Name)
}
