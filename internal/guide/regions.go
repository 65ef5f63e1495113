package guide

// The old scheme: a program marked a step with "// region NAME" ... "// endregion NAME" lines inside
// its function bodies, and a guide embedded it with <!-- code: PATH#NAME -->. A file that still has
// such lines is quoted the old way; every other file by steps (steps.go).
//
// To drop the old scheme once no program has region lines: delete this file and regions_test.go, and
// the one branch in blockTexts (guide.go) that calls hasRegions and regionTexts.

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
)

var (
	regionRE    = regexp.MustCompile(`^\s*// region (\S+)\s*$`)
	endregionRE = regexp.MustCompile(`^\s*// endregion (\S+)\s*$`)
)

// hasRegions reports whether a source file still has region marker lines.
func hasRegions(src string) bool {
	for _, line := range splitLines(src) {
		if regionRE.MatchString(line) || endregionRE.MatchString(line) {
			return true
		}
	}
	return false
}

// Regions reads the marked regions of a source file: name to the region's lines, common leading tabs
// removed, joined with "\n" (no final newline). Marker lines are never part of a region. A region that
// is opened twice, closed without being opened, or never closed is an error.
func Regions(path string) (map[string]string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return regions(path, string(src))
}

func regions(path, src string) (map[string]string, error) {
	lines := splitLines(src)
	regions := map[string][]string{}
	var open []string // names of the regions open at the current line, in order
	openedAt := map[string]int{}
	for i, line := range lines {
		if m := regionRE.FindStringSubmatch(line); m != nil {
			name := m[1]
			if _, dup := regions[name]; dup {
				return nil, fmt.Errorf("%s:%d: region %q opened a second time", path, i+1, name)
			}
			regions[name] = []string{}
			open = append(open, name)
			openedAt[name] = i + 1
			continue
		}
		if m := endregionRE.FindStringSubmatch(line); m != nil {
			name := m[1]
			at := slices.Index(open, name)
			if at < 0 {
				return nil, fmt.Errorf("%s:%d: endregion %q without an open region of that name", path, i+1, name)
			}
			open = slices.Delete(open, at, at+1)
			continue
		}
		for _, name := range open {
			regions[name] = append(regions[name], line)
		}
	}
	if len(open) > 0 {
		return nil, fmt.Errorf("%s:%d: region %q is never closed", path, openedAt[open[0]], open[0])
	}
	out := make(map[string]string, len(regions))
	for name, body := range regions {
		out[name] = strings.Join(dedent(body), "\n")
	}
	return out, nil
}

// regionTexts returns what each of marks (the code blocks of one guide that quote file, in guide
// order) should hold under the old scheme: the region its #NAME names.
func regionTexts(file, src string, marks []Block) ([]string, []lineError) {
	regions, err := regions(file, src)
	if err != nil {
		return nil, []lineError{{marks[0].Line, err}}
	}
	texts := make([]string, len(marks))
	var errs []lineError
	for i, b := range marks {
		if b.Phrase == "" {
			errs = append(errs, lineError{b.Line, fmt.Errorf("%s still has // region lines, so a marker must name a region (its regions: %s); or remove the region lines and quote the file by steps",
				file, strings.Join(sortedKeys(regions), ", "))})
			continue
		}
		text, ok := regions[b.Phrase]
		if !ok {
			errs = append(errs, lineError{b.Line, fmt.Errorf("%s#%s: %s has no region %q (its regions: %s); mark it with // region %s ... // endregion %s, or fix the marker",
				file, b.Phrase, file, b.Phrase, strings.Join(sortedKeys(regions), ", "), b.Phrase, b.Phrase)})
			continue
		}
		texts[i] = text
	}
	return texts, errs
}
