// Package pyexamples holds runnable Python programs that talk to Go through
// multiprocessing connections using the standard library alone. The files
// are embedded so that the pipebridge command and the tests run exactly
// what is shown here.
package pyexamples

import "embed"

// FS holds every *.py file of this directory.
//
//go:embed *.py
var FS embed.FS

// Source returns the text of the named example, such as "demo_child.py".
func Source(name string) (string, error) {
	b, err := FS.ReadFile(name)
	return string(b), err
}
