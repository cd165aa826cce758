package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/pipebridge/pipebridge/bridge"
	"github.com/pipebridge/pipebridge/conn"
)

// Go calls a Python manager server. The Python side needs only the
// standard library (see pyexamples/go_calls_python_manager.py):
//
//	class InventoryManager(BaseManager): pass
//	InventoryManager.register("inventory", callable=Inventory)
//	m = InventoryManager(address=("127.0.0.1", 6000), authkey=b"secret")
//	m.get_server().serve_forever()
func ExampleDialManager() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := bridge.DialManager(ctx, "127.0.0.1:6000", []byte("secret"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	// Python: inv = m.inventory(owner="go")
	inv, err := m.Create(ctx, "inventory", bridge.Kwargs{"owner": "go"})
	if err != nil {
		log.Fatal(err)
	}
	defer inv.Close() // decref: the server may dispose of the object

	// Python: inv.add("apples", 3)
	var n int
	if err := inv.CallInto(ctx, &n, "add", "apples", 3); err != nil {
		log.Fatal(err)
	}
	fmt.Println("apples:", n)

	// A Python exception arrives as a *bridge.PythonError.
	_, err = inv.Call(ctx, "take", "pears", 1)
	var pyErr *bridge.PythonError
	if errors.As(err, &pyErr) {
		fmt.Println(pyErr.Type, pyErr.Message()) // KeyError not enough pears
	}
}

// Calc's exported methods are what Python calls: Add as add.
type Calc struct{}

func (Calc) Add(a, b int) int { return a + b }

func (Calc) Divide(a, b float64) (float64, error) {
	if b == 0 {
		return 0, bridge.NewPythonError("ZeroDivisionError", "division by zero")
	}
	return a / b, nil
}

// Python calls Go. The Python side needs only the standard library:
//
//	class M(BaseManager): pass
//	M.register("calc"); M.register("text")
//	m = M(address=("127.0.0.1", 6000), authkey=b"secret")
//	m.connect()
//	m.calc().add(1, 2)         # 3
//	m.text().upper("go")       # 'GO'
//	m.calc().divide(1, 0)      # raises ZeroDivisionError
func ExampleManagerServer() {
	srv := bridge.NewManagerServer()
	if err := srv.Register("calc", Calc{}); err != nil {
		log.Fatal(err)
	}
	if err := srv.Register("text", bridge.Methods{"upper": strings.ToUpper}); err != nil {
		log.Fatal(err)
	}
	l, err := conn.Listen("127.0.0.1:6000", &conn.ListenOptions{Auth: conn.Auth{
		Key: []byte("secret"),
		// Python 3.11 and older answer with legacy HMAC-MD5.
		AcceptDigests: []conn.Digest{conn.DigestLegacyMD5},
	}})
	if err != nil {
		log.Fatal(err)
	}
	// Serve returns ErrServerClosed after srv.Close, srv.Shutdown or a
	// client's shutdown request.
	if err := srv.Serve(l); !errors.Is(err, bridge.ErrServerClosed) {
		log.Fatal(err)
	}
}
