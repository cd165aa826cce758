package conn_test

import (
	"fmt"
	"log"

	"github.com/pipebridge/pipebridge/conn"
)

// Two ends of a duplex pipe in one process, as multiprocessing.Pipe() makes.
func ExamplePipe() {
	a, b, err := conn.Pipe(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	defer b.Close()

	go a.Send([]any{"hello", int64(42)})

	var msg any
	if err := b.Recv(&msg); err != nil {
		log.Fatal(err)
	}
	fmt.Println(msg)
	// Output: [hello 42]
}

// Raw bodies, as send_bytes and recv_bytes move them.
func ExampleConn_SendBytes() {
	r, w, err := conn.OneWayPipe(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	w.SendBytes([]byte("raw bytes"))
	w.Close()

	body, _ := r.RecvBytes()
	fmt.Printf("%s\n", body)
	_, err = r.RecvBytes()
	fmt.Println(err)
	// Output:
	// raw bytes
	// EOF
}
