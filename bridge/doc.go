// Package bridge connects whole processes: it starts a Python (or any)
// program with one end of a pipe attached, or picks up the end that a parent
// handed down, so that both sides talk through multiprocessing's
// Connection protocol.
//
// Go starts Python:
//
//	p, err := bridge.Start(exec.Command("python3", "worker.py"), nil)
//	...
//	p.Conn.Send("job 1")
//	var reply any
//	p.Conn.Recv(&reply)
//	p.Close(5 * time.Second)
//
// where worker.py needs only the standard library:
//
//	import os
//	from multiprocessing.connection import Connection
//	conn = Connection(int(os.environ["PIPEBRIDGE_FD"]))
//	job = conn.recv()
//	conn.send("done: " + job)
//
// Python starts Go: the Python parent passes one end of a Pipe() with
// pass_fds and names it in PIPEBRIDGE_FD; the Go child calls Inherited.
//
// On Python 2.7, whose Connection lives in the C module, the child uses
// _multiprocessing.Connection(fd) instead.
package bridge
