package conn_test

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"testing"
	"time"

	"github.com/pipebridge/pipebridge/conn"
	"github.com/pipebridge/pipebridge/internal/pymatrix"
	"github.com/pipebridge/pipebridge/pickle"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Recv decodes into Go types as pickle.Unmarshal does: a struct, a slice,
// a map.
func ExampleConn_Recv_typed() {
	type Order struct {
		ID    int      `pickle:"id"`
		Items []string `pickle:"items"`
		Total float64  `pickle:"total"`
	}
	a, b, err := conn.Pipe(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	defer b.Close()

	// What Python's conn.send({'id': 7, 'items': ['tea'], 'total': 2.5})
	// sends; a Go struct encodes as the same dict.
	go a.Send(Order{ID: 7, Items: []string{"tea"}, Total: 2.5})

	var order Order
	if err := b.Recv(&order); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", order)
	// Output: {ID:7 Items:[tea] Total:2.5}
}

// Go side of the dataclass below: registered, instances of it decode
// into typedOrder, and typedOrder values encode as instances of it.
type typedOrder struct {
	ID      int             `pickle:"id"`
	Items   []typedItem     `pickle:"items"`
	Created time.Time       `pickle:"created"`
	Total   pickle.Decimal  `pickle:"total"`
	Note    *string         `pickle:"note"`
	Tags    map[string]bool `pickle:"tags"`
}

type typedItem struct {
	SKU string `pickle:"sku"`
	Qty int    `pickle:"qty"`
}

const typedPeer = `
import dataclasses, datetime, decimal, sys
from multiprocessing.connection import Connection

@dataclasses.dataclass
class Item:
    sku: str
    qty: int

@dataclasses.dataclass
class Order:
    id: int
    items: list
    created: datetime.datetime
    total: decimal.Decimal
    note: str = None
    tags: dict = dataclasses.field(default_factory=dict)

r = Connection(int(sys.argv[1]), writable=False)
c = Connection(int(sys.argv[2]), readable=False)
c.send(Order(7, [Item('tea', 2)], datetime.datetime(2024, 5, 6, 7, 8, 9), decimal.Decimal('4.50'), tags={'gift': True}))
got = r.recv()
want = Order(8, [Item('tea', 2), Item('cake', 1)], datetime.datetime(2024, 5, 6, 7, 8, 9), decimal.Decimal('7.25'), 'thanks', {'gift': True})
c.send('ok' if got == want and str(got.total) == '7.25' else 'mismatch: %r' % (got,))
`

// A Python dataclass crosses a multiprocessing Connection into a Go struct
// with c.Recv(&order), and a Go struct goes back as an instance of the
// dataclass, which Python's own recv() rebuilds.
func TestRecvDataclass(t *testing.T) {
	reg := pickle.NewRegistry()
	require.NoError(t, reg.Register("__main__", "Order", typedOrder{}, pickle.ObjectForm))
	require.NoError(t, reg.Register("__main__", "Item", typedItem{}, pickle.ObjectForm))
	codec := conn.PickleCodec{Encode: pickle.EncodeOptions{Registry: reg}, Decode: pickle.DecodeOptions{Registry: reg}}

	pymatrix.Run(t, func(t *testing.T, p pymatrix.Interpreter) {
		if !p.AtLeast(3, 7) {
			// Not a skip: a required interpreter must not drop out
			// unchecked, so confirm that it really lacks dataclasses.
			out, err := p.Command("-c", "import dataclasses").CombinedOutput()
			require.Error(t, err, "Python %s imports dataclasses; run the test on it", p.Version)
			t.Logf("Python %s has no dataclasses (3.7+): %s", p.Version, bytes.TrimSpace(out))
			return
		}
		t.Parallel()
		// Two pipes, one each way, as multiprocessing.Pipe(duplex=False)
		// makes them.
		toGo, fromPy, err := os.Pipe()
		require.NoError(t, err)
		toPy, fromGo, err := os.Pipe()
		require.NoError(t, err)
		cmd := p.Command("-c", typedPeer, "3", "4")
		cmd.ExtraFiles = []*os.File{toPy, fromPy}
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		toPy.Close()
		fromPy.Close()
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		c, err := conn.FromFileReadOnly(toGo, &conn.Options{Codec: codec})
		require.NoError(t, err)
		defer c.Close()
		w, err := conn.FromFileWriteOnly(fromGo, &conn.Options{Codec: codec})
		require.NoError(t, err)
		defer w.Close()

		var order typedOrder
		require.NoError(t, c.Recv(&order))
		assert.Equal(t, 7, order.ID)
		assert.Equal(t, []typedItem{{"tea", 2}}, order.Items)
		assert.True(t, order.Created.Equal(time.Date(2024, 5, 6, 7, 8, 9, 0, pickle.Naive)))
		assert.Same(t, pickle.Naive, order.Created.Location())
		assert.Equal(t, "4.50", order.Total.String())
		assert.Nil(t, order.Note)
		assert.Equal(t, map[string]bool{"gift": true}, order.Tags)

		order.ID++
		order.Items = append(order.Items, typedItem{"cake", 1})
		order.Total, _ = pickle.ParseDecimal("7.25")
		note := "thanks"
		order.Note = &note
		require.NoError(t, w.Send(order))
		var verdict string
		require.NoError(t, c.Recv(&verdict))
		assert.Equal(t, "ok", verdict)
	})
}
