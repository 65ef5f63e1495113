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
// made of the guide's blocks of that file one after the other, and the helper package the guide shows
// (internal/paste/broker/broker.go) as broker/broker.go. Paste makes that module's files from a guide,
// and PasteEnv.Check builds and vets them.

const (
	// PasteModule is the module path of the module a reader pastes a guide into.
	PasteModule = "example.com/tutorial"
	// HelperFile is the plain amqp091-go version of the programs' shared helper (internal/broker): a
	// guide whose programs use the helper shows it once, in full.
	HelperFile = "internal/paste/broker/broker.go"
	// helperPasted is where the reader saves it, and helperImport the import path that then has.
	helperPasted = "broker/broker.go"
	helperImport = PasteModule + "/broker"
	// sharedHelper is the helper's import path, relative to this repository's module path.
	sharedHelper = "/internal/broker"
)

var (
	markerLineRE = regexp.MustCompile(`^\s*//\s*(region|endregion)\b`)
	goLineRE     = regexp.MustCompile(`(?m)^go\s+(\S+)\s*$`)
	moduleLineRE = regexp.MustCompile(`(?m)^module\s+(\S+)\s*$`)
	amqpReqRE    = regexp.MustCompile(`(?m)^\s*(?:require\s+)?github\.com/rabbitmq/amqp091-go\s+(v\S+)`)
	goPosRE      = regexp.MustCompile(`(?:\./)?([A-Za-z0-9_./-]+\.go):(\d+)(?::\d+)?`)
	importLineRE = regexp.MustCompile(`^\s*(?:import\s+)?(?:[A-Za-z_][A-Za-z0-9_]*\s+|\.\s+)?"([^"]+)"\s*$`)
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
// of a tutorial program the guide quotes (not a test, not under internal/) at its own path, made of
// the guide's blocks of that file in guide order, as the guide shows them; and HelperFile as
// broker/broker.go when the guide shows it. Problems that make the guide impossible to paste are
// errors: a marker line (// region, // endregion) inside a block, a program that imports a package of
// this repository other than internal/broker, or one that imports internal/broker when the guide does
// not show HelperFile.
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
		if b.Kind != "code" {
			continue
		}
		body := splitLines(b.Body)
		if !b.Fenced {
			body = nil
		}
		for k, line := range body {
			if markerLineRE.MatchString(line) {
				errs = append(errs, fmt.Errorf("%s:%d: a marker line %q in the block of %s: a reader would paste it; quote the file by steps and remove its region lines",
					guide, b.start+1+k, strings.TrimSpace(line), b.Ref()))
			}
		}
		dest, ok := pastedPath(b.File)
		if !ok {
			continue
		}
		f := files[b.File]
		if f == nil {
			f = &PastedFile{Path: dest}
			files[b.File] = f
			order = append(order, b.File)
		}
		for k, line := range body {
			f.Lines = append(f.Lines, line)
			f.From = append(f.From, b.start+1+k)
		}
	}
	p := &Pasted{Guide: guide}
	for _, file := range order {
		f := files[file]
		p.Files = append(p.Files, f)
		if file == HelperFile {
			continue
		}
		for _, imp := range imports(f) {
			switch {
			case imp.path == modPath+sharedHelper:
				f.Lines[imp.line] = strings.Replace(f.Lines[imp.line], strconv.Quote(imp.path), strconv.Quote(helperImport), 1)
				if files[HelperFile] == nil {
					errs = append(errs, fmt.Errorf("%s:%d: %s imports %s, which a reader cannot import, and the guide does not show the plain amqp091-go it stands for: show it once, in full, with <!-- code: %s -->",
						guide, f.From[imp.line], file, imp.path, HelperFile))
				}
			case imp.path == modPath || strings.HasPrefix(imp.path, modPath+"/"):
				errs = append(errs, fmt.Errorf("%s:%d: %s imports %s, a package of this repository that a reader cannot import: not pasteable (only %s has a pasteable stand-in, %s)",
					guide, f.From[imp.line], file, imp.path, modPath+sharedHelper, HelperFile))
			}
		}
	}
	slices.SortFunc(p.Files, func(a, b *PastedFile) int { return strings.Compare(a.Path, b.Path) })
	return p, errs
}

// pastedPath returns where a quoted file goes in the pasted module, and false for a file that is not
// part of it (a test, a file under internal/ other than HelperFile, anything but Go).
func pastedPath(file string) (string, bool) {
	if file == HelperFile {
		return helperPasted, true
	}
	if !strings.HasSuffix(file, ".go") || strings.HasSuffix(file, "_test.go") ||
		strings.HasPrefix(file, "internal/") || !strings.Contains(file, "/") {
		return "", false
	}
	return file, true
}

type importLine struct {
	path string
	line int // index in the file's lines
}

// imports lists the imports of a pasted file. When the file does not parse (the build will say why),
// every line that holds a quoted import path of the form the parser would find is taken.
func imports(f *PastedFile) []importLine {
	src := strings.Join(f.Lines, "\n")
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, f.Path, src, parser.ImportsOnly)
	var out []importLine
	if err == nil {
		for _, imp := range file.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err == nil {
				out = append(out, importLine{path, fset.Position(imp.Path.Pos()).Line - 1})
			}
		}
		return out
	}
	for i, line := range f.Lines {
		if m := importLineRE.FindStringSubmatch(line); m != nil {
			out = append(out, importLine{m[1], i})
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
