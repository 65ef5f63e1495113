package guide

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// A reader pastes a guide into a module of their own: `go mod init example.com/tutorial`, `go get
// github.com/rabbitmq/amqp091-go`, each program the guide shows at its path (hello-world/send/main.go),
// made of the guide's code blocks of that file one after the other, and the shared helper, which the
// guide links to, copied from its page as rabbit/rabbit.go. Paste makes that module's files from a
// guide, and PasteEnv.Check builds and vets them.

const (
	// PasteModule is the module path of the module a reader pastes a guide into.
	PasteModule = "example.com/tutorial"
	// RabbitFile is the programs' shared helper (package rabbit), which a reader copies as it is. A guide
	// does not show it: it links to its page, RabbitPage.
	RabbitFile = "rabbit/rabbit.go"
	// RabbitPage is the helper's page; RabbitPageZh the page a README.zh-CN.md links to.
	RabbitPage   = "rabbit/README.md"
	RabbitPageZh = "rabbit/README.zh-CN.md"
	// rabbitImport is the helper's import path, relative to this repository's module path and to
	// PasteModule.
	rabbitImport = "/rabbit"
)

var (
	goLineRE     = regexp.MustCompile(`(?m)^go\s+(\S+)\s*$`)
	moduleLineRE = regexp.MustCompile(`(?m)^module\s+(\S+)\s*$`)
	amqpReqRE    = regexp.MustCompile(`(?m)^\s*(?:require\s+)?github\.com/rabbitmq/amqp091-go\s+(v\S+)`)
	goPosRE      = regexp.MustCompile(`(?:\./)?([A-Za-z0-9_./-]+\.go):(\d+)(?::\d+)?`)
)

// PastedFile is one file of a pasted guide.
type PastedFile struct {
	Path  string   // in the pasted module, slash-separated
	Lines []string // as the guide shows them, the helper's import path rewritten
	From  []int    // the guide line (from 1) each line comes from
}

// Pasted is the module a reader makes by pasting a guide.
type Pasted struct {
	Guide string        // the guide, relative to the repository root
	Files []*PastedFile // sorted by Path
}

// Paste makes the files of the module a reader gets by pasting the guide at root/guide: each Go file
// of a tutorial program the guide quotes (not a test, not under internal/) at its own path, made of the
// guide's code blocks of that file in guide order, as the guide shows them; and root/rabbit/rabbit.go
// when a program imports package rabbit, its import path rewritten. Problems that make the guide
// impossible to paste are errors: a program importing rabbit when the guide does not link to its page,
// or importing another package of this repository.
func Paste(root, guide string) (*Pasted, []error) {
	modPath, err := modulePath(root)
	if err != nil {
		return nil, []error{err}
	}
	raw, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(guide)))
	if err != nil {
		return nil, []error{err}
	}
	blocks, err := Parse(string(raw))
	if err != nil {
		return nil, []error{fmt.Errorf("%s: %v", guide, err)}
	}
	var errs []error
	files := map[string]*PastedFile{} // by the quoted file's path in the repository
	var order []string
	for _, b := range blocks {
		dest, ok := pastedPath(b.File)
		if b.Kind != "code" || !b.Fenced || !ok {
			continue
		}
		f := files[b.File]
		if f == nil {
			f = &PastedFile{Path: dest}
			files[b.File] = f
			order = append(order, b.File)
		}
		for k, line := range splitLines(b.Body) {
			f.Lines = append(f.Lines, line)
			f.From = append(f.From, b.start+1+k)
		}
	}
	p := &Pasted{Guide: guide}
	page := RabbitPage
	if filepath.Base(guide) == "README.zh-CN.md" {
		page = RabbitPageZh
	}
	link, _ := filepath.Rel(filepath.Dir(guide), page)
	link = "](" + filepath.ToSlash(link)
	needRabbit := false
	for _, file := range order {
		f := files[file]
		p.Files = append(p.Files, f)
		for _, imp := range imports(f) {
			quote := func(path string) { // rewrites the import to path
				f.Lines[imp.line] = strings.Replace(f.Lines[imp.line], strconv.Quote(imp.path), strconv.Quote(path), 1)
			}
			switch {
			case imp.path == modPath+rabbitImport:
				quote(PasteModule + rabbitImport)
				if !needRabbit && !strings.Contains(string(raw), link) {
					errs = append(errs, fmt.Errorf("%s:%d: %s imports %s, and the guide does not link to its page, where a reader gets it: link to it (%s...)",
						guide, f.From[imp.line], file, imp.path, link))
				}
				needRabbit = true
			case imp.path == modPath || strings.HasPrefix(imp.path, modPath+"/"):
				errs = append(errs, fmt.Errorf("%s:%d: %s imports %s, a package of this repository that a reader cannot import: not pasteable (only %s is, from its page)",
					guide, f.From[imp.line], file, imp.path, modPath+rabbitImport))
			}
		}
	}
	if needRabbit {
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(RabbitFile)))
		if err != nil {
			return nil, append(errs, err)
		}
		p.Files = append(p.Files, &PastedFile{Path: RabbitFile, Lines: splitLines(strings.TrimSuffix(string(src), "\n"))})
	}
	slices.SortFunc(p.Files, func(a, b *PastedFile) int { return strings.Compare(a.Path, b.Path) })
	return p, errs
}

// pastedPath returns where a quoted file goes in the pasted module, and false for a file that is not
// part of it (a test, the helper, a file under internal/, anything but Go).
func pastedPath(file string) (string, bool) {
	if !strings.HasSuffix(file, ".go") || strings.HasSuffix(file, "_test.go") || file == RabbitFile ||
		strings.HasPrefix(file, "internal/") || !strings.Contains(file, "/") {
		return "", false
	}
	return file, true
}

type importLine struct {
	path string
	line int // index in the file's lines
}

// imports lists the imports of a pasted file; none when it does not parse (the build then says why).
func imports(f *PastedFile) []importLine {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, f.Path, strings.Join(f.Lines, "\n"), parser.ImportsOnly)
	if err != nil {
		return nil
	}
	var out []importLine
	for _, imp := range file.Imports {
		if path, err := strconv.Unquote(imp.Path.Value); err == nil {
			out = append(out, importLine{path, fset.Position(imp.Path.Pos()).Line - 1})
		}
	}
	return out
}

// modulePath reads the module path from root/go.mod.
func modulePath(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", err
	}
	m := moduleLineRE.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("%s: no module line", filepath.Join(root, "go.mod"))
	}
	return string(m[1]), nil
}

// PasteEnv builds pasted guides: offline, from the module cache, with the repository's Go version,
// amqp091-go version and go.sum. Check may be called from several goroutines; guides that paste to the
// same files (a guide and its translation, usually) are built once.
type PasteEnv struct {
	goMod []byte
	goSum []byte
	env   []string

	mu     sync.Mutex
	builds map[[sha256.Size]byte]*pasteBuild
}

type pasteBuild struct {
	once sync.Once
	step string // "go build" or "go vet": what failed
	out  string // its output
	err  error  // a failure to run it at all
}

// NewPasteEnv prepares the builds from the repository at root. It fails when the module cache lacks
// the amqp091-go version of root/go.mod, saying to run `go mod download`.
func NewPasteEnv(root string) (*PasteEnv, error) {
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, err
	}
	goLine := goLineRE.FindSubmatch(mod)
	amqpVer := amqpReqRE.FindSubmatch(mod)
	if goLine == nil || amqpVer == nil {
		return nil, fmt.Errorf("%s: no go line or no requirement of github.com/rabbitmq/amqp091-go", filepath.Join(root, "go.mod"))
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		return nil, err
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOMODCACHE: %v", err)
	}
	cache := strings.TrimSpace(string(out))
	ver := string(amqpVer[1])
	for _, p := range []string{
		filepath.Join(cache, "cache", "download", "github.com", "rabbitmq", "amqp091-go", "@v", ver+".mod"),
		filepath.Join(cache, "cache", "download", "github.com", "rabbitmq", "amqp091-go", "@v", ver+".zip"),
	} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("github.com/rabbitmq/amqp091-go %s is not in the module cache (%s is missing): run `go mod download` in %s, then test again",
				ver, p, root)
		}
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains([]string{"GOFLAGS", "GOPROXY", "GOTOOLCHAIN", "GOWORK", "GOMODCACHE"}, k)
	})
	env = append(env, "GOFLAGS=-mod=mod", "GOPROXY=off", "GOTOOLCHAIN=local", "GOWORK=off", "GOMODCACHE="+cache)
	return &PasteEnv{
		goMod: fmt.Appendf(nil, "module %s\n\ngo %s\n\nrequire github.com/rabbitmq/amqp091-go %s\n", PasteModule, goLine[1], ver),
		goSum: sum,
		env:   env,
	}, nil
}

// Check builds and vets a pasted guide in a temporary module, and returns what failed, with the
// compiler's output; each position in a pasted file is followed by the guide line it comes from.
func (e *PasteEnv) Check(ctx context.Context, p *Pasted) []error {
	if len(p.Files) == 0 {
		return nil
	}
	key := sha256.New()
	for _, f := range p.Files {
		fmt.Fprintf(key, "%s\x00%s\x00", f.Path, strings.Join(f.Lines, "\n"))
	}
	var k [sha256.Size]byte
	key.Sum(k[:0])
	e.mu.Lock()
	if e.builds == nil {
		e.builds = map[[sha256.Size]byte]*pasteBuild{}
	}
	b := e.builds[k]
	if b == nil {
		b = &pasteBuild{}
		e.builds[k] = b
	}
	e.mu.Unlock()
	b.once.Do(func() { b.step, b.out, b.err = e.build(ctx, p) })
	if b.err != nil {
		return []error{fmt.Errorf("%s: %v", p.Guide, b.err)}
	}
	if b.step == "" {
		return nil
	}
	return []error{fmt.Errorf("%s: the pasted code fails `%s ./...` (%s):\n%s", p.Guide, b.step, p.describe(), p.annotate(b.out))}
}

// build writes the module and runs go build, then go vet. It returns the step that failed and its
// output, or an error when it could not run them.
func (e *PasteEnv) build(ctx context.Context, p *Pasted) (step, out string, err error) {
	dir, err := os.MkdirTemp("", "guide-paste-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(dir)
	write := func(name string, data []byte) error {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.WriteFile(path, data, 0o644)
	}
	if err := errors.Join(write("go.mod", e.goMod), write("go.sum", e.goSum)); err != nil {
		return "", "", err
	}
	for _, f := range p.Files {
		if err := write(f.Path, []byte(strings.Join(f.Lines, "\n")+"\n")); err != nil {
			return "", "", err
		}
	}
	// The binaries are thrown away: -s -w skips their symbol table and DWARF, which is most of the link
	// time, and changes nothing of what is checked.
	for _, args := range [][]string{{"build", "-ldflags=-s -w", "-o", os.DevNull, "./..."}, {"vet", "./..."}} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		cmd.Env = e.env
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return "go " + args[0], strings.ReplaceAll(strings.TrimSpace(buf.String()), dir+string(filepath.Separator), ""), nil
		}
		if err != nil {
			return "", "", fmt.Errorf("go %s: %v", args[0], err)
		}
	}
	return "", "", nil
}

// describe says what the pasted module holds.
func (p *Pasted) describe() string {
	paths := make([]string, len(p.Files))
	for i, f := range p.Files {
		paths[i] = f.Path
	}
	return "module " + PasteModule + " with " + strings.Join(paths, ", ")
}

// annotate follows each position in a pasted file (hello-world/send/main.go:12:3) with the guide line
// it comes from.
func (p *Pasted) annotate(out string) string {
	return goPosRE.ReplaceAllStringFunc(out, func(pos string) string {
		m := goPosRE.FindStringSubmatch(pos)
		n, _ := strconv.Atoi(m[2])
		for _, f := range p.Files {
			if f.Path == m[1] && n >= 1 && n <= len(f.From) {
				return fmt.Sprintf("%s [%s:%d]", pos, p.Guide, f.From[n-1])
			}
		}
		return pos
	})
}

// PastedFiles returns the files Paste would make, by path, as they would be written; for tests and
// for looking at what a reader gets.
func (p *Pasted) PastedFiles() map[string]string {
	out := make(map[string]string, len(p.Files))
	for _, f := range p.Files {
		out[f.Path] = strings.Join(f.Lines, "\n") + "\n"
	}
	return out
}
