// Package pipebridge lets Go programs talk to Python programs through
// Python's own multiprocessing connections: the frames that
// multiprocessing.Pipe, Listener and Client exchange, with objects as
// pickles. The Python side needs nothing but its standard library.
//
// The work is split across packages:
//
//   - [github.com/pipebridge/pipebridge/conn]: the Connection (framing,
//     send and receive of objects and bytes) over socketpairs, pipes,
//     inherited file descriptors and sockets.
//   - [github.com/pipebridge/pipebridge/bridge]: whole processes: start
//     Python from Go with a pipe attached, or be started by Python.
//   - [github.com/pipebridge/pipebridge/pickle]: the pickle codec.
//   - [github.com/pipebridge/pipebridge/pyexamples]: runnable Python
//     programs for each direction.
//   - cmd/pipebridge: the command-line tool (demo, echo peer).
//
// This package holds no code: it carries the module's documentation and its
// cross-language integration tests.
package pipebridge
