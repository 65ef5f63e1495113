package guide

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

var (
	pasteEnvOnce sync.Once
	pasteEnv     *PasteEnv
	pasteEnvErr  error
)

// testPasteEnv is the one PasteEnv of the tests, so that the same pasted files are built once.
func testPasteEnv(t *testing.T, root string) *PasteEnv {
	t.Helper()
	pasteEnvOnce.Do(func() { pasteEnv, pasteEnvErr = NewPasteEnv(root) })
	if pasteEnvErr != nil {
		t.Fatal(pasteEnvErr)
	}
	return pasteEnv
}

// checkPaste pastes a guide and builds it: every problem, in order.
func checkPaste(t *testing.T, env *PasteEnv, root, guide string) []error {
	p, errs := Paste(root, guide)
	if p == nil {
		return errs
	}
	if len(p.Files) == 0 {
		t.Logf("%s quotes no program: nothing to build", guide)
	}
	return append(errs, env.Check(t.Context(), p)...)
}

// TestGuidesCompile pastes every guide into a fresh module, as a reader would, and builds and vets it
// (see Paste). One guide: go test -run 'TestGuidesCompile/hello-world/README.md$' ./internal/guide/
func TestGuidesCompile(t *testing.T) {
	root, guides := repoGuides(t)
	env := testPasteEnv(t, root)
	for _, g := range guides {
		t.Run(g, func(t *testing.T) {
			t.Parallel()
			errs := checkPaste(t, env, root, g)
			for _, err := range errs {
				t.Error(err)
			}
		})
	}
}

// The fixture repository testdata/paste has a guide that pastes and builds (tut), and one of each
// problem: a program that needs a file the guide does not show (broken), a guide that does not show the
// helper (nohelper), a program importing another internal package (internalimport), one that builds but
// fails go vet (vetfail). Its internal/paste/broker/broker.go is a stand-in for the repository's.
const fixtureRoot = "testdata/paste"

// TestPasteFixtures checks each fixture guide; the fixtures' code blocks are in sync with their source.
func TestPasteFixtures(t *testing.T) {
	root, err := filepath.Abs(fixtureRoot)
	if err != nil {
		t.Fatal(err)
	}
	if errs := CheckAll(root); len(errs) != 0 {
		t.Fatalf("fixture blocks out of sync (go run ./internal/guide/cmd/guides -write -root internal/guide/%s): %v", fixtureRoot, errs)
	}
	env := testPasteEnv(t, root)
	for _, c := range []struct {
		guide string
		want  []string // in the one error, in order; none for a guide that builds
	}{
		{"tut/README.md", nil},
		{"broken/README.md", []string{"broken/README.md: the pasted code fails `go build ./...`", "broken/prog/main.go:6:2 [broken/README.md:10]: undefined: report"}},
		{"nohelper/README.md", []string{"nohelper/README.md:16: tut/send/main.go imports github.com/rabbitmq-tutorials-go/tutorials/internal/broker",
			"does not show the plain amqp091-go it stands for", "<!-- code: internal/paste/broker/broker.go -->"}},
		{"internalimport/README.md", []string{"internalimport/README.md:11: internalimport/prog/main.go imports github.com/rabbitmq-tutorials-go/tutorials/internal/e2e",
			"not pasteable"}},
		{"vetfail/README.md", []string{"the pasted code fails `go vet ./...`", "vetfail/prog/main.go:7:14 [vetfail/README.md:11]", "%d"}},
	} {
		t.Run(c.guide, func(t *testing.T) {
			t.Parallel()
			p, errs := Paste(root, c.guide)
			if len(errs) == 0 {
				errs = env.Check(t.Context(), p)
			}
			if c.want == nil {
				for _, err := range errs {
					t.Error(err)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("%d errors, want 1: %v", len(errs), errs)
			}
			msg, at := errs[0].Error(), 0
			for _, w := range c.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("error lacks %q (after byte %d):\n%s", w, at, msg)
				}
				at += i + len(w)
			}
		})
	}
}

// TestPastedFiles: a pasted program is the guide's blocks of it, one after the other, as shown (so the
// whole file, dedented); the helper's import is rewritten, and the helper goes to broker/broker.go.
func TestPastedFiles(t *testing.T) {
	p, errs := Paste(fixtureRoot, "tut/README.md")
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	files := p.PastedFiles()
	var paths []string
	for path := range files {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	if want := []string{"broker/broker.go", "tut/receive/main.go", "tut/send/main.go"}; !slices.Equal(paths, want) {
		t.Fatalf("pasted files %v, want %v", paths, want)
	}
	for path, src := range map[string]string{"tut/send/main.go": "tut/send/main.go", "broker/broker.go": HelperFile} {
		b, err := os.ReadFile(filepath.Join(fixtureRoot, src))
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Replace(string(b), `"github.com/rabbitmq-tutorials-go/tutorials/internal/broker"`, `"example.com/tutorial/broker"`, 1)
		if trimLines(files[path]) != trimLines(want) {
			t.Errorf("%s pasted:\n%s\nwant (leading tabs and blank lines aside):\n%s", path, files[path], want)
		}
	}
	if !strings.Contains(files["tut/send/main.go"], "\n// Declare the queue.\nq, err := ch.QueueDeclare(") {
		t.Errorf("a block is not dedented:\n%s", files["tut/send/main.go"])
	}
}

// trimLines drops blank lines and leading tabs.
func trimLines(s string) string {
	var out []string
	for _, l := range splitLines(s) {
		if l = strings.TrimLeft(l, "\t"); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestPasteMarkerLine: a marker line inside a block (a block edited by hand, or a file quoted the old
// way) is reported where it is in the guide.
func TestPasteMarkerLine(t *testing.T) {
	guide := "# G\n\n<!-- code: p/main.go -->\n```go\npackage main\n\nfunc main() {\n\t// region x\n}\n```\n"
	root := writeTree(t, map[string]string{"go.mod": "module example.org/m\n", "p/main.go": "package main\n", "p/README.md": guide})
	_, errs := Paste(root, "p/README.md")
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `p/README.md:8: a marker line "// region x" in the block of p/main.go`) {
		t.Errorf("errors: %v", errs)
	}
}

// TestPasteEnvNoModule: without amqp091-go in the module cache, the test fails saying what to run.
func TestPasteEnvNoModule(t *testing.T) {
	root := writeTree(t, map[string]string{
		"go.mod": "module example.org/m\n\ngo 1.25\n\nrequire github.com/rabbitmq/amqp091-go v0.0.0-not-downloaded\n",
		"go.sum": "",
	})
	_, err := NewPasteEnv(root)
	if err == nil || !strings.Contains(err.Error(), "not in the module cache") || !strings.Contains(err.Error(), "go mod download") {
		t.Errorf("NewPasteEnv: %v", err)
	}
}

// TestPasteImportsUnparsed: the imports of a pasted file that does not parse are still found.
func TestPasteImportsUnparsed(t *testing.T) {
	guide := "<!-- code: p/main.go -->\n```go\npackage main\n\nimport (\n\t\"fmt\"\n\n\te2e \"example.org/m/internal/e2e\"\n)\n\nfunc main() {\n```\n"
	root := writeTree(t, map[string]string{"go.mod": "module example.org/m\n", "p/main.go": "package main\n", "p/README.md": guide})
	_, errs := Paste(root, "p/README.md")
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "p/README.md:8: p/main.go imports example.org/m/internal/e2e") {
		t.Errorf("errors: %v", errs)
	}
}
