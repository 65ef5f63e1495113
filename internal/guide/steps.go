package guide

import (
	"fmt"
	"os"
	"strings"
)

// Step is one step of a Go source file: it starts at a comment line (see Steps) and runs to the line
// before the next step.
type Step struct {
	Line  int    // the step's first line, from 1
	Title string // the text of that comment line, after "//" and one space
}

// Steps splits a Go source file into steps at its comment blocks. A step starts at a full-line //
// comment that is the file's first line, or whose previous line is blank or ends with "{" or "(".
// So the doc comment with the package clause and the imports is the first step, and each comment
// before a statement, after a blank line or at the top of a block, starts another. A comment right
// after a line of code (a "}" for instance) does not start a step: it belongs to the step above.
func Steps(src string) []Step {
	lines := splitLines(src)
	var steps []Step
	for i := range lines {
		if isStepStart(lines, i) {
			steps = append(steps, Step{Line: i + 1, Title: commentText(lines[i])})
		}
	}
	return steps
}

func isStepStart(lines []string, i int) bool {
	if !strings.HasPrefix(strings.TrimSpace(lines[i]), "//") {
		return false
	}
	if i == 0 {
		return true
	}
	prev := strings.TrimSpace(lines[i-1])
	return prev == "" || strings.HasSuffix(prev, "{") || strings.HasSuffix(prev, "(")
}

// commentText returns the text of a // comment line: after the slashes and one space.
func commentText(line string) string {
	t := strings.TrimPrefix(strings.TrimSpace(line), "//")
	return strings.TrimPrefix(t, " ")
}

// StepsOf reads a source file and returns its steps.
func StepsOf(path string) ([]Step, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Steps(string(src)), nil
}

// findStep returns the index in steps of the one step whose title starts with phrase. An error lists
// the file's steps, or (with listed) refers to the line where they were listed.
func findStep(file string, steps []Step, phrase string, listed int) (int, error) {
	var found []Step
	at := -1
	for k, s := range steps {
		if strings.HasPrefix(s.Title, phrase) {
			found, at = append(found, s), k
		}
	}
	switch {
	case len(found) == 1:
		return at, nil
	case len(found) > 1:
		return -1, fmt.Errorf("%d steps of %s start with %q, make the phrase longer:%s", len(found), file, phrase, listSteps(found))
	case listed > 0:
		return -1, fmt.Errorf("no step of %s starts with %q (its steps are listed at guide line %d)", file, phrase, listed)
	}
	return -1, fmt.Errorf("no step of %s starts with %q; its steps:%s", file, phrase, listSteps(steps))
}

func listSteps(steps []Step) string {
	var b strings.Builder
	for _, s := range steps {
		title := s.Title
		if r := []rune(title); len(r) > 70 {
			title = string(r[:70]) + "..."
		}
		fmt.Fprintf(&b, "\n\tline %d: %s", s.Line, title)
	}
	return b.String()
}

// stepTexts returns what each of marks (the code and step blocks of one guide that quote file, in
// guide order) should hold, or the problems with their markers. A step block is its step. The first
// code block must be <!-- code: FILE --> (from the top of the file), each other one <!-- code:
// FILE#PHRASE --> naming a step after the previous one's; each runs up to the next one's step, the last
// to the end of the file. So the code blocks, one after the other, are the whole file, which a guide
// that shows a step of it must show.
func stepTexts(file, src string, marks []Block) ([]string, []lineError) {
	lines := splitLines(src)
	steps := Steps(src)
	starts := make([]int, len(marks)) // each block's first line, 0-based
	ends := make([]int, len(marks))   // and the line after its last one
	var errs []lineError
	var whole []int       // the code blocks, by index in marks
	prev, prevAt := -1, 0 // the previous code block's first line in the file, and its marker's line
	listed := 0           // the guide line whose error listed the file's steps
	for i, b := range marks {
		if b.Phrase == "" {
			if len(whole) > 0 {
				errs = append(errs, lineError{b.Line, fmt.Errorf("%s is quoted from the top a second time (first at line %d): name the step this block starts at, <!-- code: %s#PHRASE -->",
					file, marks[whole[0]].Line, file)})
				continue
			}
		} else {
			k, err := findStep(file, steps, b.Phrase, listed)
			if err != nil {
				if listed == 0 && strings.Contains(err.Error(), "its steps:") {
					listed = b.Line
				}
				errs = append(errs, lineError{b.Line, fmt.Errorf("%s: %v", b.Ref(), err)})
				continue
			}
			starts[i], ends[i] = steps[k].Line-1, len(lines)
			if k+1 < len(steps) {
				ends[i] = steps[k+1].Line - 1
			}
			if b.Kind == "step" {
				ends[i] = excerptEnd(lines, starts[i], ends[i])
				continue
			}
			if len(whole) == 0 {
				errs = append(errs, lineError{b.Line, fmt.Errorf("%s is the guide's first code block of %s, so it must start at the top of the file: <!-- code: %s --> (a guide's code blocks of one file, one after the other, show all of it; <!-- step: %s --> shows one step)",
					b.Ref(), file, file, b.Ref())})
				continue
			}
		}
		if starts[i] <= prev {
			errs = append(errs, lineError{b.Line, fmt.Errorf("%s starts at line %d of the file, not after the step of the code block before it (line %d, guide line %d): a guide's code blocks quote a file in the file's order (<!-- step: %s --> shows a step anywhere)",
				b.Ref(), starts[i]+1, prev+1, prevAt, b.Ref())})
		}
		prev, prevAt = starts[i], b.Line
		whole = append(whole, i)
	}
	if len(whole) == 0 && len(errs) == 0 {
		errs = append(errs, lineError{marks[0].Line, fmt.Errorf("%s: the guide shows a step of %s but never the whole file: show it with <!-- code: %s --> too (in a section of its own)",
			marks[0].Ref(), file, file)})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	for j, i := range whole {
		ends[i] = len(lines)
		if j+1 < len(whole) {
			ends[i] = starts[whole[j+1]]
		}
	}
	texts := make([]string, len(marks))
	for i := range marks {
		texts[i] = strings.Join(dedent(lines[starts[i]:ends[i]]), "\n")
	}
	return texts, nil
}

// excerptEnd is where the excerpt of the step at lines[start:end] ends: before its last lines that are
// blank or indented less than its first line (the closing braces of the blocks it is in).
func excerptEnd(lines []string, start, end int) int {
	indent := func(l string) int { return len(l) - len(strings.TrimLeft(l, "\t")) }
	for end > start+1 && (strings.TrimSpace(lines[end-1]) == "" || indent(lines[end-1]) < indent(lines[start])) {
		end--
	}
	return end
}
