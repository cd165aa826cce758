//go:build !unix

package conn

import "io"

func pollFD(rw io.ReadWriteCloser) (ready, ok bool) { return false, false }
