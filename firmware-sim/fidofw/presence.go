package fidofw

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Errors a [Presence] returns besides the context's own error.
var (
	// ErrDenied: the user refused (CTAP2_ERR_OPERATION_DENIED).
	ErrDenied = errors.New("fidofw: user denied presence")
	// ErrPresenceTimeout: nobody touched the key in time
	// (CTAP2_ERR_USER_ACTION_TIMEOUT).
	ErrPresenceTimeout = errors.New("fidofw: user presence timed out")
)

// PresenceRequest tells a [Presence] what the touch is for.
type PresenceRequest struct {
	Op   string // "makeCredential", "getAssertion", "reset", "register", "authenticate", "selection"
	RPID string // relying party, when there is one
	User string // user name, when there is one
}

func (r PresenceRequest) String() string {
	s := r.Op
	if r.RPID != "" {
		s += " for " + r.RPID
	}
	if r.User != "" {
		s += " as " + r.User
	}
	return s
}

// Presence is the user-presence test of the key: the touch of its button.
// Confirm blocks until the user approved (nil), refused ([ErrDenied]), let it
// time out ([ErrPresenceTimeout]) or ctx ended (ctx.Err(): the host
// cancelled).
type Presence interface {
	Confirm(ctx context.Context, req PresenceRequest) error
}

// PresenceFunc adapts a function to [Presence].
type PresenceFunc func(ctx context.Context, req PresenceRequest) error

// Confirm calls f.
func (f PresenceFunc) Confirm(ctx context.Context, req PresenceRequest) error { return f(ctx, req) }

// Immediate is an optional capability of a [Presence]: a policy whose
// Confirm never blocks says so, and the firmware then answers requests
// without handing them to a background worker.
type Immediate interface {
	Immediate() bool
}

// isImmediate reports whether p answers without blocking.
func isImmediate(p Presence) bool {
	i, ok := p.(Immediate)
	return ok && i.Immediate()
}

type fixedPresence struct{ err error }

func (f fixedPresence) Confirm(context.Context, PresenceRequest) error { return f.err }
func (fixedPresence) Immediate() bool                                  { return true }

// Approve is a user who touches the key at once, every time.
func Approve() Presence { return fixedPresence{} }

// Deny is a user who refuses every time.
func Deny() Presence { return fixedPresence{ErrDenied} }

// TimeoutAfter is a user who is not there: each request fails with
// [ErrPresenceTimeout] after d (at once for d <= 0), or ends with the
// context.
func TimeoutAfter(d time.Duration) Presence {
	if d <= 0 {
		return fixedPresence{ErrPresenceTimeout}
	}
	return PresenceFunc(func(ctx context.Context, _ PresenceRequest) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return ErrPresenceTimeout
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

// DefaultPresenceTimeout is how long [Ask] waits for an answer: 30 s, the
// usual user-presence timeout of security keys.
const DefaultPresenceTimeout = 30 * time.Second

// Ask is a user at a terminal: each request prints a prompt to out and waits
// for a line on in: "y" (or an empty line) approves, "n" denies. A line
// typed while nobody asks is kept for the next request, like a latched
// button touch. Without an answer within timeout (0: [DefaultPresenceTimeout])
// the request times out.
func Ask(in io.Reader, out io.Writer, timeout time.Duration) Presence {
	if timeout <= 0 {
		timeout = DefaultPresenceTimeout
	}
	a := &asker{out: out, timeout: timeout, lines: make(chan string, 1)}
	go func() {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			a.lines <- strings.TrimSpace(strings.ToLower(sc.Text()))
		}
		close(a.lines)
	}()
	return a
}

type asker struct {
	mu      sync.Mutex // one prompt at a time
	out     io.Writer
	timeout time.Duration
	lines   chan string
}

func (a *asker) Confirm(ctx context.Context, req PresenceRequest) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	fmt.Fprintf(a.out, "security key: touch requested (%s): approve? [Y/n] ", req)
	t := time.NewTimer(a.timeout)
	defer t.Stop()
	select {
	case l, ok := <-a.lines:
		if !ok {
			fmt.Fprintln(a.out, "(no terminal input: denied)")
			return ErrDenied
		}
		if l == "" || l == "y" || l == "yes" {
			return nil
		}
		return ErrDenied
	case <-t.C:
		fmt.Fprintln(a.out, "(timed out)")
		return ErrPresenceTimeout
	case <-ctx.Done():
		fmt.Fprintln(a.out, "(cancelled)")
		return ctx.Err()
	}
}

// ParsePresence returns the policy a name stands for: "auto" ([Approve]),
// "deny" ([Deny]), "timeout" ([TimeoutAfter] timeout) or "ask" ([Ask] on
// in and out, waiting at most timeout). A timeout of 0 means
// [DefaultPresenceTimeout].
func ParsePresence(name string, in io.Reader, out io.Writer, timeout time.Duration) (Presence, error) {
	if timeout <= 0 {
		timeout = DefaultPresenceTimeout
	}
	switch name {
	case "auto", "approve", "":
		return Approve(), nil
	case "deny":
		return Deny(), nil
	case "timeout":
		return TimeoutAfter(timeout), nil
	case "ask":
		return Ask(in, out, timeout), nil
	}
	return nil, fmt.Errorf("fidofw: unknown presence policy %q (want auto, deny, timeout or ask)", name)
}
