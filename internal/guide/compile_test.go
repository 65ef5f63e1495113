package guide

import (
	"maps"
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

// The fixture repository testdata/paste has a guide that pastes and builds (tut: excerpts, then the
// whole programs, which import rabbit), and one of each problem: a program that needs a file the guide
// does not show (broken), a program importing rabbit in a guide that does not link to its page
// (nolink), a program importing another internal package (internalimport), one that builds but fails go
// vet (vetfail). Its rabbit/rabbit.go is a stand-in for the repository's.
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
		{"nolink/README.md", []string{"nolink/README.md:12: tut/receive/main.go imports github.com/rabbitmq-tutorials-go/tutorials/rabbit",
			"does not link to its page", "](../rabbit/README.md"}},
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

// TestPastedFiles: a pasted program is the guide's code blocks of it, one after the other, as shown (so
// the whole file, dedented; the excerpts are not pasted); rabbit's import is rewritten, and the helper
// is copied as rabbit/rabbit.go.
func TestPastedFiles(t *testing.T) {
	for guide, want := range map[string]map[string]string{ // pasted path: the file it is
		"tut/README.md": {"rabbit/rabbit.go": RabbitFile, "tut/receive/main.go": "tut/receive/main.go", "tut/send/main.go": "tut/send/main.go"},
	} {
		p, errs := Paste(fixtureRoot, guide)
		if len(errs) != 0 {
			t.Fatal(errs)
		}
		files := p.PastedFiles()
		if got := slices.Sorted(maps.Keys(files)); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
			t.Fatalf("%s: pasted files %v, want those of %v", guide, got, want)
		}
		for path, src := range want {
			b, err := os.ReadFile(filepath.Join(fixtureRoot, src))
			if err != nil {
				t.Fatal(err)
			}
			w := strings.ReplaceAll(string(b), `"github.com/rabbitmq-tutorials-go/tutorials/rabbit"`, `"example.com/tutorial/rabbit"`)
			if trimLines(files[path]) != trimLines(w) {
				t.Errorf("%s: %s pasted:\n%s\nwant (leading tabs and blank lines aside):\n%s", guide, path, files[path], w)
			}
		}
	}
	p, _ := Paste(fixtureRoot, "tut/README.md")
	if send := p.PastedFiles()["tut/send/main.go"]; !strings.Contains(send, "\n// Declare the queue.\nq, err := ch.QueueDeclare(") {
		t.Errorf("a block is not dedented:\n%s", send)
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
