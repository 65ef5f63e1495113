// Package guide keeps the tutorial guides (the README.md and README.zh-CN.md files beside each tutorial's
// programs) from drifting away from the code and output they show, and checks that the code they show
// builds when a reader pastes it into a module of their own.
//
// # The guide format
//
// A guide is Markdown. Three kinds of marker line, HTML comments Markdown does not show, each followed
// by a fenced block, tie it to the programs; a marker inside a fenced block is ignored, so a guide may
// show the syntax. Paths are relative to the repository root.
//
// Steps. A program has no marker lines: a guide quotes it by its steps. A Go file is split into steps
// at its comment blocks, as gobyexample does: a step starts at a full-line // comment that is the
// file's first line, or whose previous line is blank or ends with "{" or "(", and runs to the line
// before the next step. So the doc comment, the package clause and the imports are the first step, and
// each teaching comment before a statement starts one. A step is named by a PHRASE: the start of its
// first comment line, after "//" and one space, that no other step of the file starts with.
// `go run ./internal/guide/cmd/guides -steps FILE` lists a file's steps.
//
// Excerpts: one step, where the text talks about it, in any order, as often as needed:
//
//	<!-- step: hello-world/send/main.go#Declare the queue -->
//	```go
//	...the step whose comment starts with "Declare the queue", up to the next step...
//	```
//
// An excerpt leaves out the step's last lines when they close the blocks it is in (the "}" of a
// function that the step ends).
//
// The whole program: a guide that shows a step of a file also shows the file whole, usually in a later
// section ("The whole program"), with <!-- code: PATH --> alone (the file in full), or cut into blocks
// with prose between them:
//
//	<!-- code: hello-world/send/main.go -->
//	```go
//	...the file from its first line up to the step of the next code marker of this file...
//	```
//	<!-- code: hello-world/send/main.go#Publish -->
//	```go
//	...from the step whose comment starts with "Publish", to the end of the file...
//	```
//
// A file's first code marker is <!-- code: PATH -->, each other one names a later step than the one
// before it, and each block runs up to the next one's step: one after the other they are the whole file.
// Every block shows its lines without their trailing blank lines and without the tabs all of them start
// with. Blocks of different files may interleave.
//
// Output: what a program prints, shown with
//
//	<!-- output: NAME -->
//	```text
//	...
//	```
//
// These blocks are not generated: the tutorial's own end-to-end test runs the programs, captures their
// standard output and calls CompareOutputs, which compares it with the blocks. A line of an output block
// may hold placeholders for what changes from run to run; Placeholders lists them.
//
// A guide and its translation (README.zh-CN.md) have the same markers in the same order.
//
// # Checks
//
// `make guides` (go run ./internal/guide/cmd/guides -write) rewrites the code and step blocks from the
// source, and adds the block when a marker has none yet; CheckAll (the same command without -write, and
// this package's tests) fails when a block differs from the source or a marker is wrong: no such file, a
// phrase that matches no step or several, code markers out of the file's order, a step shown from a file
// that is not shown whole.
//
// # Code a reader can paste
//
// TestGuidesCompile pastes each guide into a fresh module, as a reader would, and builds and vets it
// (see Paste): each program's code blocks, one after the other, make its main.go (excerpts are not
// pasted: the whole program holds them). The programs' shared helper is not shown: a guide whose
// programs import it (package rabbit) links to its page, ../rabbit/README.md (README.zh-CN.md: to
// ../rabbit/README.zh-CN.md), and the test copies the repository's rabbit/rabbit.go into the module, as
// the page tells a reader to.
package guide

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Guide file names: the English guide and its Simplified Chinese translation.
var guideNames = []string{"README.md", "README.zh-CN.md"}

var (
	codeRE   = regexp.MustCompile(`^<!-- (code|step): ([^\s#]+)(?:#(\S.*?))? -->\s*$`)
	outputRE = regexp.MustCompile(`^<!-- output: (\S+) -->\s*$`)
	markerRE = regexp.MustCompile(`^\s*<!--\s*(code|step|output)\b`) // what looks like a marker, well formed or not
	fenceRE  = regexp.MustCompile("^(```+)(.*)$")
)

// Root returns the repository root: the nearest folder at or above the working directory that holds
// go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("guide: no go.mod in the working directory or above it")
		}
		dir = parent
	}
}

// dedent removes the leading tabs that every non-blank line has, and trims blank lines at either end.
func dedent(lines []string) []string {
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	common := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, "\t"))
		if common < 0 || n < common {
			common = n
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if strings.TrimSpace(l) == "" {
			out[i] = ""
		} else {
			out[i] = l[common:]
		}
	}
	return out
}

// Block is one marked fenced block of a guide.
type Block struct {
	Kind   string // "code" (part of the whole file), "step" (an excerpt) or "output"
	File   string // code, step: the source file, relative to the repository root
	Phrase string // code, step: what follows "#" in the marker: the start of a step's comment; "" for the top of the file
	Name   string // output: the output's name
	Line   int    // the marker's line number, from 1
	Body   string // the block's content, joined with "\n" (no final newline)
	Fenced bool   // whether a fenced block follows the marker at all

	start, end int // the body's line range [start, end) in the guide, 0-based; at the marker if !Fenced
}

// Parse finds the marked blocks of a guide. Markers inside a fenced block are ignored, so a guide may
// show the syntax. A fence that is opened and never closed is an error.
func Parse(text string) ([]Block, error) {
	lines := splitLines(text)
	var blocks []Block
	for i := 0; i < len(lines); i++ {
		if m := fenceRE.FindStringSubmatch(lines[i]); m != nil {
			end := closingFence(lines, i+1, m[1])
			if end < 0 {
				return nil, fmt.Errorf("line %d: fenced block never closed", i+1)
			}
			i = end
			continue
		}
		var b Block
		if m := codeRE.FindStringSubmatch(lines[i]); m != nil && (m[1] == "code" || m[3] != "") {
			b = Block{Kind: m[1], File: m[2], Phrase: m[3]}
		} else if m := outputRE.FindStringSubmatch(lines[i]); m != nil {
			b = Block{Kind: "output", Name: m[1]}
		} else if markerRE.MatchString(lines[i]) {
			return nil, fmt.Errorf("line %d: malformed marker %q: write <!-- step: PATH#PHRASE -->, <!-- code: PATH -->, <!-- code: PATH#PHRASE --> or <!-- output: NAME -->", i+1, lines[i])
		} else {
			continue
		}
		b.Line = i + 1
		b.start, b.end = i+1, i+1
		if i+1 < len(lines) {
			if m := fenceRE.FindStringSubmatch(lines[i+1]); m != nil {
				end := closingFence(lines, i+2, m[1])
				if end < 0 {
					return nil, fmt.Errorf("line %d: fenced block never closed", i+2)
				}
				b.Fenced = true
				b.start, b.end = i+2, end
				b.Body = strings.Join(lines[i+2:end], "\n")
				i = end
			}
		}
		blocks = append(blocks, b)
	}
	return blocks, nil
}

// closingFence returns the index of the line that closes a fence opened with ticks, searching from
// line from, or -1.
func closingFence(lines []string, from int, ticks string) int {
	for j := from; j < len(lines); j++ {
		t := strings.TrimRight(lines[j], " \t")
		if strings.HasPrefix(t, ticks) && strings.Trim(t, "`") == "" {
			return j
		}
	}
	return -1
}

// Guides lists the guides under root (relative paths, sorted): every README.md and README.zh-CN.md in
// a folder below root that holds at least one marker. Folders whose names start with "." or "_" and
// testdata folders are skipped.
func Guides(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			n := d.Name()
			if path != root && (strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !slices.Contains(guideNames, d.Name()) || filepath.Dir(path) == root {
			return nil
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		blocks, err := Parse(string(text))
		if err != nil || len(blocks) > 0 {
			rel, _ := filepath.Rel(root, path)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

// lineError is a problem at a line of a guide.
type lineError struct {
	line int
	err  error
}

// blockTexts returns what each code and step block of a guide should hold, by index in blocks (the
// blocks of a file with a wrong marker have none), and the problems with the markers (see stepTexts).
func blockTexts(root string, blocks []Block) (map[int]string, []lineError) {
	byFile := map[string][]int{} // file to the indexes of its blocks, in guide order
	var files []string
	for i, b := range blocks {
		if b.Kind == "output" {
			continue
		}
		if _, ok := byFile[b.File]; !ok {
			files = append(files, b.File)
		}
		byFile[b.File] = append(byFile[b.File], i)
	}
	texts := map[int]string{}
	var errs []lineError
	for _, file := range files {
		idx := byFile[file]
		marks := make([]Block, len(idx))
		for j, i := range idx {
			marks[j] = blocks[i]
		}
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(file)))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("no such file %s", file)
			}
			for _, b := range marks {
				errs = append(errs, lineError{b.Line, err})
			}
			continue
		}
		got, ferrs := stepTexts(file, string(src), marks)
		errs = append(errs, ferrs...)
		for j, i := range idx {
			if got != nil {
				texts[i] = got[j]
			}
		}
	}
	return texts, errs
}

// Ref is what a code or step block's marker names: FILE or FILE#PHRASE.
func (b Block) Ref() string {
	if b.Phrase == "" {
		return b.File
	}
	return b.File + "#" + b.Phrase
}

// Sync brings the code blocks of the guide at root/guide in line with the source they quote. It
// returns the guide's new text, and one error per problem: a wrong marker (see the package doc), a
// block that differs (only when write is false: then the text is returned unchanged). With write true,
// differing and missing blocks are rewritten instead of reported.
func Sync(root, guide string, write bool) (string, []error) {
	raw, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(guide)))
	if err != nil {
		return "", []error{err}
	}
	text := string(raw)
	blocks, err := Parse(text)
	if err != nil {
		return text, []error{fmt.Errorf("%s: %v", guide, err)}
	}
	texts, lerrs := blockTexts(root, blocks)
	for i, b := range blocks {
		if b.Kind == "output" && !b.Fenced {
			lerrs = append(lerrs, lineError{b.Line, fmt.Errorf("output %q has no fenced block after its marker", b.Name)})
		}
		want, ok := texts[i]
		if b.Kind == "output" || !ok || write || (b.Fenced && b.Body == want) {
			continue
		}
		if !b.Fenced {
			lerrs = append(lerrs, lineError{b.Line, fmt.Errorf("%s: no ```go block after the marker: run `make guides`", b.Ref())})
		} else {
			lerrs = append(lerrs, lineError{b.Line, fmt.Errorf("%s: the guide's code block differs from the source (%s): run `make guides`",
				b.Ref(), firstDiff(b.Body, want))})
		}
	}
	if write {
		lines := splitLines(text)
		// Rewrite from the last block up, so earlier line numbers stay valid.
		for i := len(blocks) - 1; i >= 0; i-- {
			b := blocks[i]
			want, ok := texts[i]
			if !ok || (b.Fenced && b.Body == want) {
				continue
			}
			repl := splitLines(want)
			if !b.Fenced {
				repl = append(append([]string{"```go"}, repl...), "```")
			}
			lines = slices.Concat(lines[:b.start], repl, lines[b.end:])
		}
		text = strings.Join(lines, "\n")
	}
	slices.SortStableFunc(lerrs, func(a, b lineError) int { return a.line - b.line })
	errs := make([]error, len(lerrs))
	for i, e := range lerrs {
		errs[i] = fmt.Errorf("%s:%d: %w", guide, e.line, e.err)
	}
	return text, errs
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := splitLines(got), splitLines(want)
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if i >= len(g) || i >= len(w) || gl != wl {
			return fmt.Sprintf("block line %d: guide has %q, source has %q", i+1, gl, wl)
		}
	}
	return "same lines"
}

// Outputs returns the output blocks of a guide file, by name. A name used twice in one guide is an
// error unless both blocks are the same.
func Outputs(path string) (map[string]Block, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blocks, err := Parse(string(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	out := map[string]Block{}
	for _, b := range blocks {
		if b.Kind != "output" {
			continue
		}
		if prev, dup := out[b.Name]; dup && prev.Body != b.Body {
			return nil, fmt.Errorf("%s:%d: output %q shown twice, differently (first at line %d)", path, b.Line, b.Name, prev.Line)
		}
		out[b.Name] = b
	}
	return out, nil
}

// Placeholders are the only parts of an output block that may differ from what a program printed: each
// stands for the text described. Anything else in a block must match the program's line exactly.
var Placeholders = map[string]string{
	"<n>":        `a number, such as 42, 50000, 1.5 or 50,000`,
	"<duration>": `a Go duration, such as 845ms, 1.234s or 1m2.5s`,
	"<text>":     `any text on one line (use sparingly: it checks nothing)`,
}

var placeholderRE = map[string]string{
	"<n>":        `[0-9][0-9,]*(?:\.[0-9]+)?`,
	"<duration>": `(?:[0-9]+(?:\.[0-9]+)?(?:h|m|s|ms|µs|us|ns))+`,
	"<text>":     `.*`,
}

// MatchLine reports whether a line a program printed matches a line of an output block.
func MatchLine(want, got string) bool {
	pat := regexp.QuoteMeta(want) // which leaves the placeholders as they are
	for ph, re := range placeholderRE {
		pat = strings.ReplaceAll(pat, ph, re)
	}
	return want == got || pat != regexp.QuoteMeta(want) && regexp.MustCompile("^"+pat+"$").MatchString(got)
}

// CompareOutputs checks the output blocks of the guides in dir (a tutorial's folder: README.md and
// README.zh-CN.md) against what the programs really printed: got maps an output's name to a program's
// whole standard output. It reports every block that does not match, every block no test captured (a
// name missing from got), and every name in got that no guide shows.
func CompareOutputs(dir string, got map[string]string) []error {
	var errs []error
	shown := map[string]bool{}
	for _, name := range guideNames {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		outs, err := Outputs(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		path = display(path)
		for _, n := range slices.Sorted(maps.Keys(outs)) {
			b := outs[n]
			shown[n] = true
			out, ok := got[n]
			if !ok {
				errs = append(errs, fmt.Errorf("%s:%d: output %q is shown but no test captures it: add it to the test that calls guide.CompareOutputs", path, b.Line, n))
				continue
			}
			if err := matchOutput(b.Body, out); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: output %q is not what the program printed: %v\nthe program printed:\n%s", path, b.Line, n, err, out))
			}
		}
	}
	for _, n := range slices.Sorted(maps.Keys(got)) {
		if !shown[n] {
			errs = append(errs, fmt.Errorf("%s: no guide shows output %q (<!-- output: %s --> then a fenced block)", display(dir), n, n))
		}
	}
	return errs
}

func matchOutput(want, got string) error {
	w := splitLines(strings.TrimRight(want, "\n"))
	g := splitLines(strings.TrimRight(got, "\n"))
	for i := 0; i < len(w) || i < len(g); i++ {
		switch {
		case i >= len(g):
			return fmt.Errorf("line %d: the guide shows %q, the program printed no more lines", i+1, w[i])
		case i >= len(w):
			return fmt.Errorf("line %d: the program printed %q, the guide shows no more lines", i+1, g[i])
		case !MatchLine(w[i], g[i]):
			return fmt.Errorf("line %d: the guide shows %q, the program printed %q", i+1, w[i], g[i])
		}
	}
	return nil
}

// display returns path relative to the repository root when it can, for messages.
func display(path string) string {
	root, err := Root()
	if err != nil {
		return path
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(root, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return path
}

func splitLines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Split(s, "\n")
}

// WriteAll rewrites the code blocks of every guide under root (see Write).
func WriteAll(root string) (changed []string, errs []error) {
	guides, err := Guides(root)
	if err != nil {
		return nil, []error{err}
	}
	return Write(root, guides)
}

// Write rewrites the code blocks of the guides (relative to root) and returns the guides it changed,
// and the problems it could not fix (a missing file or step).
func Write(root string, guides []string) (changed []string, errs []error) {
	for _, g := range guides {
		text, gerrs := Sync(root, g, true)
		errs = append(errs, gerrs...)
		path := filepath.Join(root, filepath.FromSlash(g))
		if old, err := os.ReadFile(path); text == "" || err == nil && string(old) == text {
			continue
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			errs = append(errs, err)
			continue
		}
		changed = append(changed, g)
	}
	return changed, errs
}

// CheckAll checks the code blocks of every guide under root without changing them.
func CheckAll(root string) []error {
	guides, err := Guides(root)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, g := range guides {
		_, gerrs := Sync(root, g, false)
		errs = append(errs, gerrs...)
	}
	return errs
}
