package conn

import (
	"context"
	"time"
)

// pastDeadline is a deadline in the past, set to interrupt a blocked call.
var pastDeadline = time.Unix(1, 0)

// withReadContext runs f, interrupting its reads when ctx is done by moving
// the read deadline into the past, and then puts back the deadline the user
// set. The earlier of ctx's deadline and the user's applies while f runs.
func withReadContext(c *Conn, ctx context.Context, f func()) {
	if d, ok := c.rw.(readDeadliner); ok {
		withDeadlineContext(c, ctx, f, d.SetReadDeadline, &c.userRD)
	} else {
		f()
	}
}

// withWriteContext is withReadContext for writes.
func withWriteContext(c *Conn, ctx context.Context, f func()) {
	if d, ok := c.rw.(writeDeadliner); ok {
		withDeadlineContext(c, ctx, f, d.SetWriteDeadline, &c.userWD)
	} else {
		f()
	}
}

// withDeadlineContext runs f under ctx through one deadline of c: set
// moves it, user is the one the user set (guarded by c.dmu).
func withDeadlineContext(c *Conn, ctx context.Context, f func(), set func(time.Time) error, user *time.Time) {
	if ctx.Done() == nil {
		f()
		return
	}
	withContext(ctx, f,
		func(t time.Time) {
			c.dmu.Lock()
			if !user.IsZero() && user.Before(t) {
				t = *user
			}
			set(t)
			c.dmu.Unlock()
		},
		func() {
			c.dmu.Lock()
			set(*user)
			c.dmu.Unlock()
		})
}

func withContext(ctx context.Context, f func(), set func(time.Time), restore func()) {
	if err := ctx.Err(); err != nil {
		set(pastDeadline)
		defer restore()
		f()
		return
	}
	if dl, ok := ctx.Deadline(); ok {
		set(dl)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		set(pastDeadline)
		close(fired)
	})
	f()
	if !stop() {
		<-fired // let it finish before putting the user's deadline back
	}
	restore()
}

// contextCause returns ctx's error when err is a timeout that ctx caused,
// and nil otherwise. The deadline that ctx's deadline became may fire a
// moment before ctx itself reports being done, so a deadline that has
// passed counts too.
func contextCause(ctx context.Context, err error) error {
	if err == nil || !isTimeout(err) {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}
