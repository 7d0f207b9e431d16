// Package pipe is an in-process CTAPHID transport: two connected ends, each
// an io.ReadWriteCloser of 64-byte HID reports, so a host (package ctap) and
// a simulated authenticator talk without USB or sockets.
//
//	host, dev := pipe.New()
//	go serve(dev)                       // the device reads requests, writes answers
//	ch, err := ctaphid.NewDevice(host).Open(ctx)
package pipe

import (
	"errors"
	"io"
	"sync"

	"github.com/tokenlab/tokenlab/ctap/ctaphid"
)

// ErrClosed is returned by reads and writes on a closed pipe.
var ErrClosed = errors.New("pipe: closed")

// End is one end of a pipe. A Write sends one report (shorter writes are
// padded with zeros, longer ones cut to 64 bytes); a Read returns one.
type End struct {
	in, out chan ctaphid.Packet
	done    chan struct{}
	once    *sync.Once
}

// Depth is how many reports each direction buffers before Write blocks.
const Depth = 512

// New returns two connected ends. Closing either closes both.
func New() (a, b *End) {
	x, y := make(chan ctaphid.Packet, Depth), make(chan ctaphid.Packet, Depth)
	done := make(chan struct{})
	once := new(sync.Once)
	return &End{in: x, out: y, done: done, once: once}, &End{in: y, out: x, done: done, once: once}
}

// Read copies the next report into b and returns its length (64, or
// len(b) if smaller).
func (e *End) Read(b []byte) (int, error) {
	select {
	case p := <-e.in:
		return copy(b, p[:]), nil
	case <-e.done:
		return 0, io.EOF
	}
}

// Write sends b as one report.
func (e *End) Write(b []byte) (int, error) {
	var p ctaphid.Packet
	copy(p[:], b)
	select {
	case <-e.done:
		return 0, ErrClosed
	default:
	}
	select {
	case e.out <- p:
		return len(b), nil
	case <-e.done:
		return 0, ErrClosed
	}
}

// Close closes both ends.
func (e *End) Close() error {
	e.once.Do(func() { close(e.done) })
	return nil
}
