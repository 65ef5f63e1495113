// Command guides keeps the code blocks of the tutorial guides equal to the source they quote (see
// package guide for the format: <!-- step: PATH#PHRASE --> shows one step, <!-- code: PATH --> and
// <!-- code: PATH#PHRASE --> the whole file, a program being split into steps at its comment blocks).
//
// Usage:
//
//	go run ./internal/guide/cmd/guides                # check: list the problems, exit 1 if any
//	go run ./internal/guide/cmd/guides -write         # rewrite the blocks from the source (make guides)
//	go run ./internal/guide/cmd/guides -steps FILE... # list the steps a guide can start a block at
//	go run ./internal/guide/cmd/guides [-write] GUIDE...  # only the guides named (e.g. rpc/README.md)
//
// -root DIR works on the guides below DIR instead of the repository (the tests' fixtures:
// -root internal/guide/testdata/paste).
//
// It works on every README.md and README.zh-CN.md below the repository root that holds a marker.
// Output blocks are not written: the tutorials' tests check them against what the programs print.
// Whether the guides compile when pasted is checked by a test:
// go test -run TestGuidesCompile ./internal/guide/
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
	write := fs.Bool("write", false, "rewrite the guides' code blocks from the source")
	steps := fs.Bool("steps", false, "list the steps of the files given as arguments")
	rootFlag := fs.String("root", "", "the repository root (default: the nearest folder at or above the working directory with a go.mod)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *steps {
		return listSteps(fs.Args(), stdout)
	}
	root := *rootFlag
	if root == "" {
		var err error
		if root, err = guide.Root(); err != nil {
			return err
		}
	}
	var errs []error
	var changed []string
	switch {
	case fs.NArg() > 0 && *write:
		// Only the guides named (paths relative to the root), so that one tutorial's guides can be
		// brought up to date while others are being edited.
		changed, errs = guide.Write(root, fs.Args())
	case fs.NArg() > 0:
		for _, g := range fs.Args() {
			_, gerrs := guide.Sync(root, filepath.ToSlash(g), false)
			errs = append(errs, gerrs...)
		}
	case *write:
		changed, errs = guide.WriteAll(root)
	default:
		errs = guide.CheckAll(root)
	}
	for _, g := range changed {
		fmt.Fprintln(stdout, "updated", g)
	}
	for _, err := range errs {
		fmt.Fprintln(os.Stderr, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d problem(s) in the guides", len(errs))
	}
	return nil
}

// listSteps prints each file's steps: the line each starts at, and its comment's first line, which is
// what a marker's #PHRASE must start with.
func listSteps(files []string, stdout io.Writer) error {
	if len(files) == 0 {
		return fmt.Errorf("-steps: name the files")
	}
	for _, f := range files {
		steps, err := guide.StepsOf(f)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s:\n", f)
		for _, s := range steps {
			fmt.Fprintf(stdout, "%5d  %s\n", s.Line, s.Title)
		}
	}
	return nil
}
