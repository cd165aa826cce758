// Package pymatrix finds the Python interpreters that integration tests run
// against and runs a test body once per interpreter.
//
// Interpreters come from PIPEBRIDGE_PYTHONS (a colon-separated list of
// executable paths) when it is set; otherwise from python3 and python on PATH
// plus every $(pyenv root)/versions/*/bin/python. Two paths that report the
// same full version are counted once.
//
// PIPEBRIDGE_REQUIRE_PYTHONS (space- or comma-separated versions such as
// "2.7 3.6 3.13") turns a missing version into a test failure instead of a
// quietly shorter matrix.
package pymatrix

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Interpreter is one Python executable and the version it reports.
type Interpreter struct {
	Path    string // absolute path of the executable
	Version string // full version as sys.version_info gives it, e.g. "3.11.7"
	Major   int
	Minor   int
}

// Short is "major.minor", e.g. "3.11"; it names subtests.
func (p Interpreter) Short() string { return fmt.Sprintf("%d.%d", p.Major, p.Minor) }

// AtLeast reports whether p is version major.minor or newer.
func (p Interpreter) AtLeast(major, minor int) bool {
	return p.Major > major || (p.Major == major && p.Minor >= minor)
}

// DefaultProtocol is pickle.DEFAULT_PROTOCOL of this interpreter, the protocol
// that Connection.send uses.
func (p Interpreter) DefaultProtocol() int {
	switch {
	case p.Major == 2:
		return 2
	case p.AtLeast(3, 14):
		return 5
	case p.AtLeast(3, 8):
		return 4
	default:
		return 3
	}
}

// HighestProtocol is pickle.HIGHEST_PROTOCOL of this interpreter.
func (p Interpreter) HighestProtocol() int {
	switch {
	case p.Major == 2:
		return 2
	case p.AtLeast(3, 8):
		return 5
	default:
		return 4
	}
}

// Command returns an exec.Cmd that runs this interpreter with args.
func (p Interpreter) Command(args ...string) *exec.Cmd {
	cmd := exec.Command(p.Path, args...)
	// Keep the child's view of the world predictable: no user site
	// packages, no PYTHONPATH from whoever runs the tests, unbuffered output.
	env := make([]string, 0, len(os.Environ())+2)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PYTHONPATH=") || strings.HasPrefix(kv, "PYTHONHOME=") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, "PYTHONNOUSERSITE=1", "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1")
	return cmd
}

var (
	findOnce sync.Once
	found    []Interpreter
	findLog  []string
)

// All returns every interpreter found, oldest first, without a testing.TB.
// Lines describing the search are returned alongside for logging.
func All() ([]Interpreter, []string) {
	findOnce.Do(func() { found, findLog = discover() })
	return found, findLog
}

func candidates() (paths []string, source string) {
	if env := os.Getenv("PIPEBRIDGE_PYTHONS"); strings.TrimSpace(env) != "" {
		for _, p := range strings.Split(env, ":") {
			if p = strings.TrimSpace(p); p != "" {
				paths = append(paths, p)
			}
		}
		return paths, "PIPEBRIDGE_PYTHONS"
	}
	for _, name := range []string{"python3", "python"} {
		if p, err := exec.LookPath(name); err == nil {
			paths = append(paths, p)
		}
	}
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		if out, err := exec.Command("pyenv", "root").Output(); err == nil {
			root = strings.TrimSpace(string(out))
		} else if home, err := os.UserHomeDir(); err == nil {
			root = filepath.Join(home, ".pyenv")
		}
	}
	if root != "" {
		matches, _ := filepath.Glob(filepath.Join(root, "versions", "*", "bin", "python"))
		paths = append(paths, matches...)
	}
	return paths, "PATH and pyenv"
}

func discover() ([]Interpreter, []string) {
	paths, source := candidates()
	var log []string
	seen := map[string]bool{}
	var out []Interpreter
	for _, p := range paths {
		v, err := probe(p)
		if err != nil {
			log = append(log, fmt.Sprintf("pymatrix: %s: %v", p, err))
			continue
		}
		if seen[v.Version] {
			continue
		}
		seen[v.Version] = true
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Major != b.Major {
			return a.Major < b.Major
		}
		return a.Minor < b.Minor
	})
	names := make([]string, len(out))
	for i, p := range out {
		names[i] = p.Version + " (" + p.Path + ")"
	}
	log = append(log, fmt.Sprintf("pymatrix: from %s found %d interpreters: %s", source, len(out), strings.Join(names, ", ")))
	return out, log
}

func probe(path string) (Interpreter, error) {
	// pyenv shims resolve through pyenv; ask the interpreter for its real path.
	out, err := exec.Command(path, "-c", "import sys; print('%d %d %d' % sys.version_info[:3]); print(sys.executable)").Output()
	if err != nil {
		return Interpreter{}, fmt.Errorf("not runnable: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 {
		return Interpreter{}, fmt.Errorf("unexpected version output %q", out)
	}
	f := strings.Fields(lines[0])
	if len(f) != 3 {
		return Interpreter{}, fmt.Errorf("unexpected version output %q", out)
	}
	major, _ := strconv.Atoi(f[0])
	minor, _ := strconv.Atoi(f[1])
	exe := strings.TrimSpace(lines[1])
	if exe == "" {
		exe = path
	}
	return Interpreter{Path: exe, Version: strings.Join(f, "."), Major: major, Minor: minor}, nil
}

// Required returns the versions named by PIPEBRIDGE_REQUIRE_PYTHONS.
func Required() []string {
	return strings.FieldsFunc(os.Getenv("PIPEBRIDGE_REQUIRE_PYTHONS"), func(r rune) bool {
		return r == ' ' || r == ',' || r == ':' || r == '\t'
	})
}

// Find returns the interpreters to test against, logging what was found.
// A version required by PIPEBRIDGE_REQUIRE_PYTHONS that is missing fails t.
// With no interpreter at all and nothing required, t is skipped with a
// message that says so.
func Find(t testing.TB) []Interpreter {
	t.Helper()
	all, log := All()
	for _, l := range log {
		t.Log(l)
	}
	have := map[string]bool{}
	for _, p := range all {
		have[p.Short()] = true
		have[p.Version] = true
	}
	var missing []string
	for _, v := range Required() {
		if !have[v] {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("pymatrix: PIPEBRIDGE_REQUIRE_PYTHONS names %s but no such interpreter was found", strings.Join(missing, ", "))
	}
	if len(all) == 0 {
		t.Skip("pymatrix: no Python interpreter found (set PIPEBRIDGE_PYTHONS, or PIPEBRIDGE_REQUIRE_PYTHONS to make this a failure)")
	}
	return all
}

// Run runs body once per interpreter as a subtest named "py" + p.Short().
// The body may call t.Parallel to run interpreters side by side.
func Run(t *testing.T, body func(t *testing.T, p Interpreter)) {
	t.Helper()
	for _, p := range Find(t) {
		p := p
		t.Run("py"+p.Short(), func(t *testing.T) { body(t, p) })
	}
}

// Newest returns the newest interpreter found, for tests that need just one
// Python; it skips t (or fails it, when versions are required) if none exists.
func Newest(t testing.TB) Interpreter {
	all := Find(t)
	return all[len(all)-1]
}
