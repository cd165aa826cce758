package bridge_test

import (
	"fmt"
	"io"
	"log"
	"os/exec"
	"time"

	"github.com/pipebridge/pipebridge/bridge"
)

// Go starts a Python worker with a pipe attached. worker.py rebuilds its end
// with multiprocessing.connection.Connection(int(os.environ["PIPEBRIDGE_FD"])).
func ExampleStart() {
	p, err := bridge.Start(exec.Command("python3", "worker.py"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(5 * time.Second)

	if err := p.Conn.Send([]any{"resize", 640, 480}); err != nil {
		log.Fatal(err)
	}
	var reply any
	if err := p.Conn.Recv(&reply); err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply)
}

// A Go program started by Python picks up the pipe end its parent handed
// down and echoes every message until the parent closes its end.
func ExampleInherited() {
	c, err := bridge.Inherited(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for {
		var msg any
		if err := c.Recv(&msg); err == io.EOF {
			return
		} else if err != nil {
			log.Fatal(err)
		}
		if err := c.Send(msg); err != nil {
			log.Fatal(err)
		}
	}
}
