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

// findStep returns the one step whose title starts with phrase. An error lists the file's steps, or
// (with listed) refers to the line where they were listed.
func findStep(file string, steps []Step, phrase string, listed int) (Step, error) {
	var found []Step
	for _, s := range steps {
		if strings.HasPrefix(s.Title, phrase) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		if listed > 0 {
			return Step{}, fmt.Errorf("no step of %s starts with %q (its steps are listed at guide line %d)", file, phrase, listed)
		}
		return Step{}, fmt.Errorf("no step of %s starts with %q; its steps:%s", file, phrase, listSteps(steps))
	default:
		return Step{}, fmt.Errorf("%d steps of %s start with %q, make the phrase longer:%s", len(found), file, phrase, listSteps(found))
	}
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

// stepTexts returns what each of marks (the code blocks of one guide that quote file, in guide order)
// should hold. The first marker must be <!-- code: FILE --> (from the top of the file), each other one
// <!-- code: FILE#PHRASE --> naming a step after the previous marker's; a block runs up to the next
// marker's step, the last one to the end of the file. So the blocks, one after the other, are the
// whole file.
func stepTexts(file, src string, marks []Block) ([]string, []lineError) {
	lines := splitLines(src)
	steps := Steps(src)
	starts := make([]int, len(marks)) // each block's first line, 0-based
	var errs []lineError
	prev, prevAt := -1, 0 // the previous block's first line in the file, and its marker's line
	listed := 0           // the guide line whose error listed the file's steps
	for i, b := range marks {
		switch {
		case i == 0 && b.Phrase != "":
			errs = append(errs, lineError{b.Line, fmt.Errorf("%s#%s is the guide's first block of %s, so it must start at the top of the file: <!-- code: %s --> (a guide's blocks of one file, one after the other, show all of it)",
				file, b.Phrase, file, file)})
			continue
		case i == 0:
			starts[i] = 0
		case b.Phrase == "":
			errs = append(errs, lineError{b.Line, fmt.Errorf("%s is quoted from the top a second time (first at line %d): name the step this block starts at, <!-- code: %s#PHRASE -->",
				file, marks[0].Line, file)})
			continue
		default:
			s, err := findStep(file, steps, b.Phrase, listed)
			if err != nil {
				if listed == 0 && strings.Contains(err.Error(), "its steps:") {
					listed = b.Line
				}
				errs = append(errs, lineError{b.Line, fmt.Errorf("%s#%s: %v", file, b.Phrase, err)})
				continue
			}
			starts[i] = s.Line - 1
		}
		if starts[i] <= prev {
			errs = append(errs, lineError{b.Line, fmt.Errorf("%s#%s starts at line %d of the file, not after the step of the block before it (line %d, guide line %d): a guide quotes a file in the file's order",
				file, b.Phrase, starts[i]+1, prev+1, prevAt)})
		}
		prev, prevAt = starts[i], b.Line
	}
	if len(errs) > 0 {
		return nil, errs
	}
	texts := make([]string, len(marks))
	for i := range marks {
		end := len(lines)
		if i+1 < len(marks) {
			end = starts[i+1]
		}
		texts[i] = strings.Join(dedent(lines[starts[i]:end]), "\n")
	}
	return texts, nil
}
