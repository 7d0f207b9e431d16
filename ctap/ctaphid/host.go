package ctaphid

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Host-side errors.
var (
	// ErrClosed is returned by a Device whose transport was closed or failed.
	ErrClosed = errors.New("ctaphid: device closed")
	// ErrNonce is returned by Open when no INIT response echoed the nonce
	// sent before the deadline (responses with other nonces are skipped,
	// as CTAP 2.1 §11.2.9.1.3 requires).
	ErrNonce = errors.New("ctaphid: no INIT response with our nonce")
	// ErrTimeout is returned when the device sends nothing — not even a
	// KEEPALIVE — for the Device's IdleTimeout.
	ErrTimeout = errors.New("ctaphid: device timed out")
	// ErrUnexpected is returned for a response whose command is not the
	// request's, or that is malformed.
	ErrUnexpected = errors.New("ctaphid: unexpected response")
	// ErrTooLong is returned for a request longer than MaxMessageSize.
	ErrTooLong = errors.New("ctaphid: message longer than 7609 bytes")
)

// DefaultIdleTimeout is how long a host waits for the next packet of a
// response. Authenticators send KEEPALIVE every 100 ms while they work
// (CTAP 2.1 §11.2.9.1.7), so silence this long means the device is gone.
const DefaultIdleTimeout = 3 * time.Second

// Device is the host's end of a CTAPHID device: an io.ReadWriter of 64-byte
// reports (USB HID, UDP datagrams, a pipe). One goroutine reads reports
// into a queue so reads honour contexts and timeouts on every transport.
// Open allocates a channel on it.
type Device struct {
	rw io.ReadWriter
	// IdleTimeout overrides DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Rand is the source of INIT nonces; nil means crypto/rand.
	Rand io.Reader

	in   chan Packet
	done chan struct{}
	err  error // set before done is closed
	wmu  sync.Mutex
	tx   sync.Mutex // one transaction at a time, whatever the channel
	once sync.Once
}

// NewDevice starts reading reports from rw. Close the Device (or rw) to stop.
func NewDevice(rw io.ReadWriter) *Device {
	d := &Device{rw: rw, in: make(chan Packet, 256), done: make(chan struct{})}
	go d.readLoop()
	return d
}

func (d *Device) readLoop() {
	buf := make([]byte, ReportLen+1)
	for {
		n, err := d.rw.Read(buf)
		if err != nil {
			d.err = err
			close(d.done)
			return
		}
		if n == 0 {
			continue
		}
		var p Packet
		copy(p[:], buf[:n])
		select {
		case d.in <- p:
		default: // nobody is reading: drop the oldest report
			select {
			case <-d.in:
			default:
			}
			d.in <- p
		}
	}
}

// Close closes the transport if it is an io.Closer.
func (d *Device) Close() error {
	var err error
	d.once.Do(func() {
		if c, ok := d.rw.(io.Closer); ok {
			err = c.Close()
		}
	})
	return err
}

// WritePacket sends one raw report.
func (d *Device) WritePacket(p Packet) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	_, err := d.rw.Write(p[:])
	return err
}

// ReadPacket returns the next report, waiting at most timeout (or until
// ctx ends).
func (d *Device) ReadPacket(ctx context.Context, timeout time.Duration) (Packet, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case p := <-d.in:
		return p, nil
	case <-d.done:
		select { // deliver what was read before the failure
		case p := <-d.in:
			return p, nil
		default:
		}
		return Packet{}, fmt.Errorf("%w: %v", ErrClosed, d.err)
	case <-t.C:
		return Packet{}, ErrTimeout
	case <-ctx.Done():
		return Packet{}, ctx.Err()
	}
}

// Drain discards reports already queued.
func (d *Device) Drain() {
	for {
		select {
		case <-d.in:
		default:
			return
		}
	}
}

func (d *Device) idle() time.Duration {
	if d.IdleTimeout > 0 {
		return d.IdleTimeout
	}
	return DefaultIdleTimeout
}

// Channel is a CTAPHID channel allocated by the host (CTAP 2.1 §11.2.3).
// Transactions on all channels of a Device run one at a time, as a device
// answers one at a time (§11.2.5).
type Channel struct {
	dev  *Device
	cid  uint32
	info InitResponse
	// OnKeepalive, if set, is called for every KEEPALIVE received while a
	// request is processed; StatusUPNeeded means "touch your key".
	OnKeepalive func(KeepaliveStatus)
}

// Open allocates a channel: INIT on the broadcast channel with a random
// nonce; responses that do not echo the nonce are skipped (they answer
// another application).
func (d *Device) Open(ctx context.Context) (*Channel, error) {
	return d.OpenOn(ctx, BroadcastCID)
}

// OpenOn sends INIT on cid: BroadcastCID allocates a new channel, an
// allocated CID resynchronises it (the answer keeps or reassigns the CID).
func (d *Device) OpenOn(ctx context.Context, cid uint32) (*Channel, error) {
	var nonce [NonceLen]byte
	r := d.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, nonce[:]); err != nil {
		return nil, err
	}
	d.tx.Lock()
	defer d.tx.Unlock()
	p := InitPacket(cid, CmdInit, NonceLen, nonce[:])
	if err := d.WritePacket(p); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(d.idle())
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, ErrNonce
		}
		q, err := d.ReadPacket(ctx, left)
		if errors.Is(err, ErrTimeout) {
			return nil, ErrNonce
		}
		if err != nil {
			return nil, err
		}
		if q.CID() != cid || !q.IsInit() || q.Cmd() != CmdInit || q.BCNT() < InitResponseLen {
			continue
		}
		resp, _ := ParseInitResponse(q[InitHeaderLen:])
		if !bytes.Equal(resp.Nonce[:], nonce[:]) {
			continue
		}
		if resp.CID == 0 || resp.CID == BroadcastCID {
			return nil, fmt.Errorf("%w: INIT assigned channel %08x", ErrUnexpected, resp.CID)
		}
		return &Channel{dev: d, cid: resp.CID, info: *resp}, nil
	}
}

// CID returns the channel identifier.
func (c *Channel) CID() uint32 { return c.cid }

// Info returns the INIT response that allocated the channel.
func (c *Channel) Info() InitResponse { return c.info }

// Device returns the device the channel is on.
func (c *Channel) Device() *Device { return c.dev }

// Transact sends one request and returns the response's payload. The
// response must carry the request's command; KEEPALIVE packets go to
// OnKeepalive; CTAPHID_ERROR becomes an ErrCode error; packets of other
// channels are dropped. When ctx ends during a CBOR request, CANCEL is sent
// and the device's answer awaited for a short while (CTAP 2.1 §11.2.9.1.5).
func (c *Channel) Transact(ctx context.Context, cmd Cmd, data []byte) ([]byte, error) {
	if len(data) > MaxMessageSize {
		return nil, ErrTooLong
	}
	c.dev.tx.Lock()
	defer c.dev.tx.Unlock()
	c.dev.Drain() // late answers to an abandoned request are not ours
	for _, p := range Fragment(c.cid, cmd, data) {
		if err := c.dev.WritePacket(p); err != nil {
			return nil, err
		}
	}
	return c.receive(ctx, cmd)
}

func (c *Channel) receive(ctx context.Context, cmd Cmd) ([]byte, error) {
	var a Assembler
	cancelled := false
	wait := ctx
	for {
		p, err := c.dev.ReadPacket(wait, c.dev.idle())
		if err != nil {
			if ctx.Err() != nil && !cancelled && (cmd == CmdCBOR || cmd == CmdMsg) {
				// Ask the device to stop, then wait a little for its
				// answer (CTAP2_ERR_KEEPALIVE_CANCEL) without the dead
				// context — bounded, even if KEEPALIVEs keep coming.
				cancelled = true
				c.dev.WritePacket(InitPacket(c.cid, CmdCancel, 0, nil))
				var stop context.CancelFunc
				wait, stop = context.WithTimeout(context.Background(), c.dev.idle())
				defer stop()
				continue
			}
			if cancelled {
				return nil, ctx.Err()
			}
			return nil, err
		}
		if p.CID() != c.cid {
			continue // another application's channel
		}
		if p.IsInit() {
			switch p.Cmd() {
			case CmdKeepalive:
				if c.OnKeepalive != nil && p.BCNT() >= 1 {
					c.OnKeepalive(KeepaliveStatus(p[InitHeaderLen]))
				}
				continue
			case CmdError:
				if p.BCNT() < 1 {
					return nil, ErrUnexpected
				}
				return nil, ErrCode(p[InitHeaderLen])
			}
		}
		m, err := a.Add(p[:])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnexpected, err)
		}
		if m == nil {
			continue
		}
		if m.Cmd != cmd {
			return nil, fmt.Errorf("%w: %v in answer to %v", ErrUnexpected, m.Cmd, cmd)
		}
		if cancelled {
			return m.Data, ctx.Err()
		}
		return m.Data, nil
	}
}

// Ping echoes data (CTAPHID_PING) and checks the echo.
func (c *Channel) Ping(ctx context.Context, data []byte) error {
	got, err := c.Transact(ctx, CmdPing, data)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("%w: PING echo differs", ErrUnexpected)
	}
	return nil
}

// Wink asks the device to identify itself (CTAPHID_WINK).
func (c *Channel) Wink(ctx context.Context) error {
	_, err := c.Transact(ctx, CmdWink, nil)
	return err
}

// Lock locks the device to this channel for d (at most 10 s, rounded down
// to seconds; 0 releases it) with CTAPHID_LOCK (§11.2.9.2.2).
func (c *Channel) Lock(ctx context.Context, d time.Duration) error {
	s := int(d / time.Second)
	if s < 0 || s > 10 {
		return fmt.Errorf("ctaphid: lock time %v out of 0..10s", d)
	}
	_, err := c.Transact(ctx, CmdLock, []byte{byte(s)})
	return err
}

// CBOR sends a CTAP2 request (command byte and CBOR) with CTAPHID_CBOR and
// returns the response (status byte and CBOR).
func (c *Channel) CBOR(ctx context.Context, req []byte) ([]byte, error) {
	return c.Transact(ctx, CmdCBOR, req)
}

// Msg sends a CTAP1/U2F APDU with CTAPHID_MSG and returns the response APDU.
func (c *Channel) Msg(ctx context.Context, apdu []byte) ([]byte, error) {
	return c.Transact(ctx, CmdMsg, apdu)
}

// Cancel sends CTAPHID_CANCEL on the channel; it has no response. It is
// safe to call while another goroutine waits in Transact.
func (c *Channel) Cancel() error {
	return c.dev.WritePacket(InitPacket(c.cid, CmdCancel, 0, nil))
}
