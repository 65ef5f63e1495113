package guide

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoGuides returns the repository root and the guides in it.
func repoGuides(t *testing.T) (string, []string) {
	t.Helper()
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	guides, err := Guides(root)
	if err != nil {
		t.Fatal(err)
	}
	return root, guides
}

// TestGuidesMatchCode is the check that keeps the guides honest: every code block of every guide in the
// repository must equal the region it names, and every region it names must exist.
func TestGuidesMatchCode(t *testing.T) {
	root, guides := repoGuides(t)
	if len(guides) == 0 {
		t.Fatal("no guides found: the walk is broken")
	}
	for _, err := range CheckAll(root) {
		t.Error(err)
	}
}

// TestOutputsAreChecked: a guide that shows a program's output must sit beside a test that compares it
// with what the program prints, or the shown output could be wrong and nothing would say so.
func TestOutputsAreChecked(t *testing.T) {
	root, guides := repoGuides(t)
	for _, g := range guides {
		outs, err := Outputs(filepath.Join(root, g))
		if err != nil {
			t.Error(err)
			continue
		}
		if len(outs) == 0 {
			continue
		}
		dir := filepath.Join(root, filepath.Dir(g))
		tests, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
		checked := false
		for _, f := range tests {
			b, err := os.ReadFile(f)
			if err == nil && strings.Contains(string(b), "guide.CompareOutputs(") {
				checked = true
			}
		}
		if !checked {
			t.Errorf("%s shows program output, but no test in %s calls guide.CompareOutputs to check it", g, filepath.Dir(g))
		}
	}
}

// writeTree makes files under a temporary root.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, text := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestMatchLine(t *testing.T) {
	cases := []struct {
		want, got string
		ok        bool
	}{
		{" [x] Sent Hello", " [x] Sent Hello", true},
		{" [x] Sent Hello", " [x] Sent Hell", false},
		{"Published <n> messages in <duration>", "Published 50,000 messages in 1.234s", true},
		{"Published <n> messages in <duration>", "Published 50000 messages in 845ms", true},
		{"Published <n> messages in <duration>", "Published many messages in 845ms", false},
		{"took <duration>.", "took 1m2.5s.", true},
		{"a.b <n>", "aXb 1", false}, // the rest is literal, not a pattern
		{"<x>", "anything", false},  // not a placeholder
		{"got <text>", "got what ever", true},
	}
	for _, c := range cases {
		if MatchLine(c.want, c.got) != c.ok {
			t.Errorf("MatchLine(%q, %q) = %v", c.want, c.got, !c.ok)
		}
	}
}

func TestCompareOutputs(t *testing.T) {
	en := "<!-- output: recv -->\n```text\n [*] Waiting\n [x] Received <text>\n```\n"
	zh := "<!-- output: recv -->\n```text\n [*] Waiting\n```\n<!-- output: send -->\n```\nSent\n```\n"
	root := writeTree(t, map[string]string{"p/README.md": en, "p/README.zh-CN.md": zh})
	dir := filepath.Join(root, "p")

	errs := CompareOutputs(dir, map[string]string{"recv": " [*] Waiting\n [x] Received hi\n", "send": "Sent\n", "extra": ""})
	// zh's recv lacks a line; extra is shown nowhere.
	if len(errs) != 2 {
		t.Fatalf("got %d errors, want 2: %v", len(errs), errs)
	}
	if !strings.Contains(errs[0].Error(), "README.zh-CN.md:1") || !strings.Contains(errs[1].Error(), `"extra"`) {
		t.Errorf("errors: %v", errs)
	}
	errs = CompareOutputs(dir, map[string]string{"recv": " [*] Waiting\n"})
	// en wants a second line; zh's send is captured by nobody.
	if len(errs) != 2 || !strings.Contains(errs[1].Error(), "no test captures it") {
		t.Errorf("errors: %v", errs)
	}
}

// TestTranslationsMatch: a guide and its translation embed the same code and output blocks, in the same
// order, so neither lags behind the other.
func TestTranslationsMatch(t *testing.T) {
	root, guides := repoGuides(t)
	markers := func(path string) []string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s has no translation: %v", filepath.Dir(path), err)
			return nil
		}
		blocks, err := Parse(string(b))
		if err != nil {
			t.Error(err)
		}
		var out []string
		for _, b := range blocks {
			if b.Kind == "output" {
				out = append(out, "output "+b.Name)
			} else {
				out = append(out, b.Kind+" "+b.Ref())
			}
		}
		return out
	}
	for _, g := range guides {
		if filepath.Base(g) != "README.md" {
			continue
		}
		en := markers(filepath.Join(root, g))
		zh := markers(filepath.Join(root, filepath.Dir(g), "README.zh-CN.md"))
		if strings.Join(en, "\n") != strings.Join(zh, "\n") {
			t.Errorf("%s and README.zh-CN.md embed different blocks:\n  en: %v\n  zh: %v", g, en, zh)
		}
	}
}
