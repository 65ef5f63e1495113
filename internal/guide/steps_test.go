package guide

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stepProg has a step at each comment that starts one, and comments that do not.
const stepProg = `// Command p shows steps.
package main

import (
	// A comment right after "(" starts a step.
	"fmt"
)

func main() {
	// Say hello: a comment right after "{" starts a step.
	x := 1 // a trailing comment is no step
	// A comment right after code is no step.
	if x > 0 {
		fmt.Println(x)
	}

	// Say goodbye.
	//
	// Its second line is no step either.
	fmt.Println("bye")

	//Say again, with no space after the slashes.
	fmt.Println("bye")
}
`

func TestSteps(t *testing.T) {
	want := []Step{
		{1, "Command p shows steps."},
		{5, `A comment right after "(" starts a step.`},
		{10, `Say hello: a comment right after "{" starts a step.`},
		{17, "Say goodbye."},
		{22, "Say again, with no space after the slashes."},
	}
	got := Steps(stepProg)
	if len(got) != len(want) {
		t.Fatalf("Steps: %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// syncGuide writes stepProg and a guide, and checks the guide, then writes it: the root, the errors
// of the check, and the guide as written.
func syncGuide(t *testing.T, guide string) (string, []error, string) {
	t.Helper()
	root := writeTree(t, map[string]string{"p/main.go": stepProg, "p/README.md": guide})
	_, errs := Sync(root, "p/README.md", false)
	if _, werrs := WriteAll(root); len(werrs) != len(markerErrors(errs)) {
		t.Errorf("write reports %v, check %v", werrs, errs)
	}
	b, err := os.ReadFile(filepath.Join(root, "p/README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return root, errs, string(b)
}

// markerErrors leaves out the errors that writing fixes (blocks that differ or are missing).
func markerErrors(errs []error) []error {
	var out []error
	for _, e := range errs {
		if !strings.Contains(e.Error(), "make guides") {
			out = append(out, e)
		}
	}
	return out
}

func TestStepBlocks(t *testing.T) {
	guide := "# P\n\n<!-- code: p/main.go -->\n```go\nstale\n```\n\nprose\n\n" +
		"<!-- code: p/main.go#Say goodbye -->\n\n" +
		"```md\n<!-- code: p/main.go#ignored inside a fence -->\n```\n"
	_, errs, written := syncGuide(t, guide)
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "p/README.md:3: p/main.go: the guide's code block differs") ||
		!strings.Contains(errs[1].Error(), "p/README.md:10: p/main.go#Say goodbye: no ```go block") {
		t.Fatalf("check: %v", errs)
	}
	first := strings.Join(splitLines(stepProg)[:16], "\n") // up to the blank line before "Say goodbye", which is not shown
	if !strings.Contains(written, "<!-- code: p/main.go -->\n```go\n"+strings.TrimRight(first, "\n")+"\n```\n") {
		t.Errorf("first block wrong:\n%s", written)
	}
	if !strings.Contains(written, "<!-- code: p/main.go#Say goodbye -->\n```go\n\t// Say goodbye.\n\t//\n") {
		t.Errorf("second block wrong (it ends with the file's last line, \"}\", so it keeps its tabs):\n%s", written)
	}

	// The blocks together are the whole file.
	blocks, err := Parse(written)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, b := range blocks {
		if b.Kind == "code" {
			all = append(all, b.Body)
		}
	}
	if got := strings.Join(all, "\n\n") + "\n"; got != stepProg {
		t.Errorf("blocks together:\n%s\nwant the file:\n%s", got, stepProg)
	}
}

func TestStepDedent(t *testing.T) {
	guide := "<!-- code: p/main.go -->\n<!-- code: p/main.go#Say hello -->\n<!-- code: p/main.go#Say goodbye -->\n"
	root, errs, written := syncGuide(t, guide)
	if len(markerErrors(errs)) != 0 {
		t.Fatal(errs)
	}
	want := "<!-- code: p/main.go#Say hello -->\n```go\n" +
		"// Say hello: a comment right after \"{\" starts a step.\n" +
		"x := 1 // a trailing comment is no step\n" +
		"// A comment right after code is no step.\n" +
		"if x > 0 {\n\tfmt.Println(x)\n}\n```\n" // one tab less everywhere, and no trailing blank line
	if !strings.Contains(written, want) {
		t.Errorf("guide lacks\n%s\nin\n%s", want, written)
	}
	if errs := CheckAll(root); len(errs) != 0 {
		t.Errorf("check after write: %v", errs)
	}
	if changed, errs := WriteAll(root); len(changed) != 0 || len(errs) != 0 {
		t.Errorf("a second write changed %v (%v)", changed, errs)
	}
}

func TestStepMarkerErrors(t *testing.T) {
	for _, c := range []struct {
		name, guide string
		want        []string // in the one error reported, in order
	}{
		{"no step", "<!-- code: p/main.go -->\n<!-- code: p/main.go#Say nothing -->\n",
			[]string{"p/README.md:2: p/main.go#Say nothing", `no step of p/main.go starts with "Say nothing"`, "line 10: Say hello", "line 17: Say goodbye."}},
		{"ambiguous", "<!-- code: p/main.go -->\n<!-- code: p/main.go#Say -->\n",
			[]string{"p/README.md:2:", `3 steps of p/main.go start with "Say"`, "line 10: Say hello", "line 17: Say goodbye", "line 22: Say again"}},
		{"out of order", "<!-- code: p/main.go -->\n<!-- code: p/main.go#Say goodbye -->\n<!-- code: p/main.go#Say hello -->\n",
			[]string{"p/README.md:3: p/main.go#Say hello starts at line 10 of the file, not after", "(line 17, guide line 2)"}},
		{"same step twice", "<!-- code: p/main.go -->\n<!-- code: p/main.go#Say hello -->\n<!-- code: p/main.go#Say hello: -->\n",
			[]string{"p/README.md:3:", "not after"}},
		{"first block not at the top", "<!-- code: p/main.go#Say hello -->\n",
			[]string{"p/README.md:1: p/main.go#Say hello is the guide's first code block of p/main.go, so it must start at the top of the file"}},
		{"phrase at the top", "<!-- code: p/main.go -->\n<!-- code: p/main.go#Command p -->\n",
			[]string{"p/README.md:2:", "starts at line 1 of the file, not after"}},
		{"top twice", "<!-- code: p/main.go -->\n<!-- code: p/main.go -->\n",
			[]string{"p/README.md:2: p/main.go is quoted from the top a second time (first at line 1)"}},
		{"no such file", "<!-- code: p/gone.go -->\n", []string{"p/README.md:1: no such file p/gone.go"}},
		{"step, never whole", "<!-- step: p/main.go#Say hello -->\n",
			[]string{"p/README.md:1: p/main.go#Say hello: the guide shows a step of p/main.go but never the whole file"}},
		{"step, no such step", "<!-- step: p/main.go#Say nothing -->\n<!-- code: p/main.go -->\n",
			[]string{"p/README.md:1: p/main.go#Say nothing", `no step of p/main.go starts with "Say nothing"`}},
		{"step without phrase", "<!-- step: p/main.go -->\n", []string{"p/README.md: line 1: malformed marker"}},
		{"malformed", "<!-- code: p/main.go# -->\n", []string{"p/README.md: line 1: malformed marker"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := writeTree(t, map[string]string{"p/main.go": stepProg, "p/README.md": c.guide})
			errs := markerErrors(CheckAll(root))
			if len(errs) != 1 {
				t.Fatalf("%d errors, want 1: %v", len(errs), errs)
			}
			msg := errs[0].Error()
			at := 0
			for _, w := range c.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("error lacks %q (after byte %d):\n%s", w, at, msg)
				}
				at += i + len(w)
			}
			// Writing fixes nothing here, and changes nothing.
			if changed, _ := WriteAll(root); len(changed) != 0 {
				t.Errorf("write changed %v", changed)
			}
		})
	}
}

// TestStepsInterleaved: the blocks of two files may interleave; only each file's order matters, and a
// file quoted once is quoted in full.
func TestStepsInterleaved(t *testing.T) {
	other := "package other\n\n// F does nothing.\nfunc F() {}\n"
	guide := "<!-- code: p/main.go -->\n<!-- code: q/other.go -->\n<!-- code: p/main.go#Say goodbye -->\n"
	root := writeTree(t, map[string]string{"p/main.go": stepProg, "q/other.go": other, "p/README.md": guide})
	if _, errs := WriteAll(root); len(errs) != 0 {
		t.Fatal(errs)
	}
	if errs := CheckAll(root); len(errs) != 0 {
		t.Fatal(errs)
	}
	b, _ := os.ReadFile(filepath.Join(root, "p/README.md"))
	if !strings.Contains(string(b), "<!-- code: q/other.go -->\n```go\n"+strings.TrimSuffix(other, "\n")+"\n```\n") {
		t.Errorf("q/other.go not quoted in full:\n%s", b)
	}
}

// TestStepExcerpts: excerpts show one step each, in any order, as often as needed, without the closing
// braces of the blocks they are in; the code blocks after them still show the whole file.
func TestStepExcerpts(t *testing.T) {
	guide := "<!-- step: p/main.go#Say goodbye -->\n<!-- step: p/main.go#Say again -->\n<!-- step: p/main.go#Say goodbye -->\n" +
		"<!-- code: p/main.go -->\n"
	root, errs, written := syncGuide(t, guide)
	if len(markerErrors(errs)) != 0 {
		t.Fatal(errs)
	}
	goodbye := "<!-- step: p/main.go#Say goodbye -->\n```go\n// Say goodbye.\n//\n// Its second line is no step either.\nfmt.Println(\"bye\")\n```\n"
	again := "<!-- step: p/main.go#Say again -->\n```go\n//Say again, with no space after the slashes.\nfmt.Println(\"bye\")\n```\n"
	if want := goodbye + again + goodbye + "<!-- code: p/main.go -->\n```go\n" + strings.TrimSuffix(stepProg, "\n") + "\n```\n"; written != want {
		t.Errorf("guide written:\n%s\nwant:\n%s", written, want)
	}
	if errs := CheckAll(root); len(errs) != 0 {
		t.Errorf("check after write: %v", errs)
	}
}
