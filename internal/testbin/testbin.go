// Package testbin builds the pipebridge command once per test binary, for
// tests that run it as a separate process (a child of Python, a server).
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	once sync.Once
	path string
	err  error
)

// Pipebridge returns the path of a freshly built cmd/pipebridge, building it
// on the first call; a failed build fails t.
func Pipebridge(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		dir, mkErr := os.MkdirTemp("", "pipebridge-bin")
		if mkErr != nil {
			err = mkErr
			return
		}
		path = filepath.Join(dir, "pipebridge")
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		out, buildErr := exec.Command(gobin, "build", "-o", path, "github.com/pipebridge/pipebridge/cmd/pipebridge").CombinedOutput()
		if buildErr != nil {
			err = fmt.Errorf("go build: %v\n%s", buildErr, out)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// Cleanup removes the built binary; call it from TestMain after m.Run.
func Cleanup() {
	if path != "" {
		os.RemoveAll(filepath.Dir(path))
	}
}
