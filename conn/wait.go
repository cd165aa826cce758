package conn

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Wait waits until at least one of conns has a message (or the end of its
// stream) ready to receive, as Python's multiprocessing.connection.wait does,
// and returns the ready ones in the order given. A zero timeout checks
// without waiting; a negative one waits as long as it takes. When the
// timeout passes first, Wait returns an empty slice and no error.
func Wait(conns []*Conn, timeout time.Duration) ([]*Conn, error) {
	if timeout < 0 {
		return WaitContext(context.Background(), conns)
	}
	ready, err := readyNow(conns)
	if err != nil || len(ready) > 0 || timeout == 0 {
		return ready, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ready, err = WaitContext(ctx, conns)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, nil
	}
	return ready, err
}

// WaitContext is Wait that waits until ctx is done, and then returns ctx's
// error.
func WaitContext(ctx context.Context, conns []*Conn) ([]*Conn, error) {
	ready, err := readyNow(conns)
	if err != nil || len(ready) > 0 {
		return ready, err
	}
	if len(conns) == 0 {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	// One waiter per Conn; the first to see something ready stops the
	// others, and a final check collects every Conn ready by then.
	inner, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := c.PollContext(inner)
			if ok || (err != nil && inner.Err() == nil) {
				errs[i] = err
				stop()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return readyNow(conns)
}

func readyNow(conns []*Conn) ([]*Conn, error) {
	var ready []*Conn
	for _, c := range conns {
		ok, err := c.pollNow()
		if err != nil {
			return nil, err
		}
		if ok {
			ready = append(ready, c)
		}
	}
	return ready, nil
}
