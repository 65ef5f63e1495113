// Command prog calls a function of another file of its folder, which the guide does not show.
package main

func main() {
	// Report.
	report()
}
