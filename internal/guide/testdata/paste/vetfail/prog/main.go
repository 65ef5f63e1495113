// Command prog builds, but go vet finds a wrong format verb.
package main

import "fmt"

func main() {
	fmt.Printf("%d messages\n", "many")
}
