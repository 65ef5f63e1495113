// Command guides keeps the code blocks of the tutorial guides equal to the marked regions of the
// programs they show (see package guide for the marker syntax).
//
// Usage:
//
//	go run ./internal/guide/cmd/guides          # check: list the blocks that differ, exit 1 if any
//	go run ./internal/guide/cmd/guides -write   # rewrite the blocks from the source (make guides)
//
// It works on every README.md and README.zh-CN.md below the repository root that holds a marker.
// Output blocks are not written: the tutorials' tests check them against what the programs print.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/guide"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "guides:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("guides", flag.ContinueOnError)
	write := fs.Bool("write", false, "rewrite the guides' code blocks from the marked regions")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := guide.Root()
	if err != nil {
		return err
	}
	var errs []error
	if *write {
		var changed []string
		changed, errs = guide.WriteAll(root)
		for _, g := range changed {
			fmt.Fprintln(stdout, "updated", g)
		}
	} else {
		errs = guide.CheckAll(root)
	}
	for _, err := range errs {
		fmt.Fprintln(os.Stderr, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d problem(s) in the guides", len(errs))
	}
	return nil
}
