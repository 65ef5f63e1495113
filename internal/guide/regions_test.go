package guide

// Tests of the old scheme (regions.go): delete this file with it.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const regionProg = `package main

func main() {
	// region outer
	x := 1
	// region inner
	if x > 0 {
		println(x)
	}
	// endregion inner
	// endregion outer
}
`

func TestRegions(t *testing.T) {
	root := writeTree(t, map[string]string{"p/main.go": regionProg})
	got, err := Regions(filepath.Join(root, "p/main.go"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"outer": "x := 1\nif x > 0 {\n\tprintln(x)\n}",
		"inner": "if x > 0 {\n\tprintln(x)\n}",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("region %s = %q, want %q", name, got[name], w)
		}
	}
	for _, bad := range []string{
		"// region a\n// region a\n// endregion a\n",
		"// endregion a\n",
		"// region a\nx\n",
	} {
		root := writeTree(t, map[string]string{"bad.go": bad})
		if _, err := Regions(filepath.Join(root, "bad.go")); err == nil {
			t.Errorf("Regions(%q): no error", bad)
		}
	}
}

func TestSync(t *testing.T) {
	guide := "# T\n\n<!-- code: p/main.go#inner -->\n```go\nold\n```\n\ntext\n\n" +
		"<!-- code: p/main.go#outer -->\n\n" +
		"```md\n<!-- code: p/main.go#ignored-inside-a-fence -->\n```\n"
	root := writeTree(t, map[string]string{"p/main.go": regionProg, "p/README.md": guide})

	text, errs := Sync(root, "p/README.md", false)
	if len(errs) != 2 || text != guide {
		t.Fatalf("check: %d errors %v, text changed: %v", len(errs), errs, text != guide)
	}
	if msg := errs[0].Error(); !strings.Contains(msg, "p/README.md:3: p/main.go#inner") || !strings.Contains(msg, "make guides") {
		t.Errorf("first error does not say which guide, which region and what to run: %s", msg)
	}

	changed, errs := WriteAll(root)
	if len(errs) != 0 || len(changed) != 1 {
		t.Fatalf("write: changed %v, errors %v", changed, errs)
	}
	if errs := CheckAll(root); len(errs) != 0 {
		t.Fatalf("after write, check: %v", errs)
	}
	b, _ := os.ReadFile(filepath.Join(root, "p/README.md"))
	if want := "<!-- code: p/main.go#inner -->\n```go\nif x > 0 {\n\tprintln(x)\n}\n```\n"; !strings.Contains(string(b), want) {
		t.Errorf("written guide lacks %q:\n%s", want, b)
	}
	if want := "<!-- code: p/main.go#outer -->\n```go\nx := 1\n"; !strings.Contains(string(b), want) {
		t.Errorf("the missing block was not added:\n%s", b)
	}
	if changed, _ := WriteAll(root); len(changed) != 0 {
		t.Errorf("a second write changed %v", changed)
	}
}

func TestSyncMissing(t *testing.T) {
	guide := "<!-- code: p/main.go#nope -->\n```go\n```\n<!-- code: p/gone.go#x -->\n```go\n```\n"
	root := writeTree(t, map[string]string{"p/main.go": regionProg, "p/README.zh-CN.md": guide})
	errs := CheckAll(root)
	if len(errs) != 2 {
		t.Fatalf("got %d errors, want 2: %v", len(errs), errs)
	}
	if msg := errs[0].Error(); !strings.Contains(msg, `no region "nope"`) || !strings.Contains(msg, "inner, outer") {
		t.Errorf("missing region error: %s", msg)
	}
	if msg := errs[1].Error(); !strings.Contains(msg, "no such file p/gone.go") {
		t.Errorf("missing file error: %s", msg)
	}
}
