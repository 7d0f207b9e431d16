package ctaphid_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/ctap/pipe"
)

const testCID = 0x0a0b0c0d

// fakeKey answers INIT with testCID and runs answer for every other
// message; answer writes raw packets with send.
type fakeKey struct {
	end     *pipe.End
	answer  func(m *ctaphid.Message, send func(p ctaphid.Packet))
	cancels atomic.Int32
}

func startFake(t *testing.T, answer func(m *ctaphid.Message, send func(ctaphid.Packet))) (*ctaphid.Device, *fakeKey) {
	t.Helper()
	host, dev := pipe.New()
	k := &fakeKey{end: dev, answer: answer}
	go k.serve()
	d := ctaphid.NewDevice(host)
	d.IdleTimeout = 300 * time.Millisecond
	t.Cleanup(func() { d.Close() })
	return d, k
}

func (k *fakeKey) send(p ctaphid.Packet) { k.end.Write(p[:]) }

func (k *fakeKey) sendMsg(cid uint32, cmd ctaphid.Cmd, data []byte) {
	for _, p := range ctaphid.Fragment(cid, cmd, data) {
		k.send(p)
	}
}

func (k *fakeKey) serve() {
	var a ctaphid.Assembler
	buf := make([]byte, 64)
	for {
		if _, err := k.end.Read(buf); err != nil {
			return
		}
		var p ctaphid.Packet
		copy(p[:], buf)
		if p.IsInit() && p.Cmd() == ctaphid.CmdCancel {
			k.cancels.Add(1)
			continue
		}
		m, err := a.Add(buf)
		if err != nil || m == nil {
			continue
		}
		if m.Cmd == ctaphid.CmdInit {
			r := ctaphid.InitResponse{CID: testCID, ProtocolVersion: 2, Capabilities: ctaphid.CapCBOR | ctaphid.CapWink}
			copy(r.Nonce[:], m.Data)
			if k.answer != nil {
				// a stranger's INIT response first: wrong nonce
				other := r
				other.Nonce[0] ^= 0xff
				other.CID = 0x55
				k.sendMsg(ctaphid.BroadcastCID, ctaphid.CmdInit, other.Marshal())
			}
			k.sendMsg(m.CID, ctaphid.CmdInit, r.Marshal())
			continue
		}
		if k.answer != nil {
			k.answer(m, k.send)
		}
	}
}

func echo(m *ctaphid.Message, send func(ctaphid.Packet)) {
	for _, p := range ctaphid.Fragment(m.CID, m.Cmd, m.Data) {
		send(p)
	}
}

func TestOpenSkipsForeignNonce(t *testing.T) {
	d, _ := startFake(t, echo)
	ch, err := d.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ch.CID() != testCID || ch.Info().Capabilities&ctaphid.CapWink == 0 {
		t.Fatalf("cid %08x info %+v", ch.CID(), ch.Info())
	}
	for _, n := range []int{0, 1, 57, 58, 1000, ctaphid.MaxMessageSize} {
		if err := ch.Ping(context.Background(), bytes.Repeat([]byte{byte(n)}, n)); err != nil {
			t.Fatalf("ping %d: %v", n, err)
		}
	}
	if _, err := ch.Transact(context.Background(), ctaphid.CmdPing, make([]byte, ctaphid.MaxMessageSize+1)); !errors.Is(err, ctaphid.ErrTooLong) {
		t.Fatalf("too long: %v", err)
	}
}

func TestOpenWithoutNonceEcho(t *testing.T) {
	host, dev := pipe.New()
	go func() { // answers INIT with a nonce that is never ours
		buf := make([]byte, 64)
		for {
			if _, err := dev.Read(buf); err != nil {
				return
			}
			r := ctaphid.InitResponse{CID: 9, ProtocolVersion: 2}
			for _, p := range ctaphid.Fragment(ctaphid.BroadcastCID, ctaphid.CmdInit, r.Marshal()) {
				dev.Write(p[:])
			}
		}
	}()
	d := ctaphid.NewDevice(host)
	defer d.Close()
	d.IdleTimeout = 100 * time.Millisecond
	if _, err := d.Open(context.Background()); !errors.Is(err, ctaphid.ErrNonce) {
		t.Fatalf("err = %v, want ErrNonce", err)
	}
}

func TestTransactRules(t *testing.T) {
	tests := []struct {
		name    string
		answer  func(m *ctaphid.Message, send func(ctaphid.Packet))
		wantErr error
		want    []byte
	}{
		{"foreign channel and keepalive skipped", func(m *ctaphid.Message, send func(ctaphid.Packet)) {
			send(ctaphid.InitPacket(0x99, ctaphid.CmdPing, 3, []byte("bad")))
			send(ctaphid.InitPacket(m.CID, ctaphid.CmdKeepalive, 1, []byte{byte(ctaphid.StatusUPNeeded)}))
			echo(m, send)
		}, nil, []byte("hello")},
		{"device error", func(m *ctaphid.Message, send func(ctaphid.Packet)) {
			send(ctaphid.InitPacket(m.CID, ctaphid.CmdError, 1, []byte{byte(ctaphid.ErrChannelBusy)}))
		}, ctaphid.ErrChannelBusy, nil},
		{"answer to another command", func(m *ctaphid.Message, send func(ctaphid.Packet)) {
			send(ctaphid.InitPacket(m.CID, ctaphid.CmdWink, 0, nil))
		}, ctaphid.ErrUnexpected, nil},
		{"continuation out of order", func(m *ctaphid.Message, send func(ctaphid.Packet)) {
			pk := ctaphid.Fragment(m.CID, m.Cmd, make([]byte, 200))
			send(pk[0])
			send(pk[2])
		}, ctaphid.ErrUnexpected, nil},
		{"silence", func(*ctaphid.Message, func(ctaphid.Packet)) {}, ctaphid.ErrTimeout, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := startFake(t, tt.answer)
			ch, err := d.Open(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var kas []ctaphid.KeepaliveStatus
			ch.OnKeepalive = func(s ctaphid.KeepaliveStatus) { kas = append(kas, s) }
			got, err := ch.Transact(context.Background(), ctaphid.CmdPing, []byte("hello"))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("got %q, %v", got, err)
			}
			if len(kas) != 1 || kas[0] != ctaphid.StatusUPNeeded {
				t.Fatalf("keepalives %v", kas)
			}
		})
	}
}

func TestCancelOnContext(t *testing.T) {
	var k *fakeKey
	var d *ctaphid.Device
	d, k = startFake(t, func(m *ctaphid.Message, send func(ctaphid.Packet)) {
		go func() { // keepalive until cancelled, then CTAP2_ERR_KEEPALIVE_CANCEL
			for k.cancels.Load() == 0 {
				send(ctaphid.InitPacket(m.CID, ctaphid.CmdKeepalive, 1, []byte{byte(ctaphid.StatusUPNeeded)}))
				time.Sleep(20 * time.Millisecond)
			}
			send(ctaphid.InitPacket(m.CID, ctaphid.CmdCBOR, 1, []byte{0x2d}))
		}()
	})
	ch, err := d.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	resp, err := ch.CBOR(ctx, []byte{0x01, 0xa0})
	if !errors.Is(err, context.DeadlineExceeded) || k.cancels.Load() != 1 || !bytes.Equal(resp, []byte{0x2d}) {
		t.Fatalf("resp %x err %v cancels %d", resp, err, k.cancels.Load())
	}
}

// FuzzHostReceive answers a PING with arbitrary packets: the host must
// return an error or a message of at most MaxMessageSize, and never hang
// past its idle timeout or panic.
func FuzzHostReceive(f *testing.F) {
	var seed []byte
	for _, p := range ctaphid.Fragment(testCID, ctaphid.CmdPing, []byte("hello")) {
		seed = append(seed, p[:]...)
	}
	f.Add(seed, true)
	var long []byte
	for _, p := range ctaphid.Fragment(testCID, ctaphid.CmdPing, make([]byte, 300)) {
		long = append(long, p[:]...)
	}
	f.Add(long, true)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xbf, 0, 1, 6}, false)
	f.Fuzz(func(t *testing.T, stream []byte, ourCID bool) {
		d, _ := startFake(t, func(m *ctaphid.Message, send func(ctaphid.Packet)) {
			for s := stream; len(s) > 0; {
				var p ctaphid.Packet
				n := copy(p[:], s)
				s = s[n:]
				if ourCID {
					p[0], p[1], p[2], p[3] = 0x0a, 0x0b, 0x0c, 0x0d
				}
				send(p)
			}
		})
		d.IdleTimeout = 20 * time.Millisecond
		ch, err := d.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got, err := ch.Transact(context.Background(), ctaphid.CmdPing, []byte("hello"))
		if err == nil && len(got) > ctaphid.MaxMessageSize {
			t.Fatal("oversized message")
		}
		if err != nil && got != nil {
			t.Fatal("data and error")
		}
	})
}
