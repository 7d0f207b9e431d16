package emulator

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/internal/testtool"
)

// fakeUHID plays the kernel's side of /dev/uhid: events the device writes
// arrive on written; events queued with send are what it reads.
type fakeUHID struct {
	written chan []byte
	toDev   chan []byte
	closed  chan struct{}
}

func newFakeUHID() *fakeUHID {
	return &fakeUHID{written: make(chan []byte, 64), toDev: make(chan []byte, 64), closed: make(chan struct{})}
}

func (f *fakeUHID) Write(b []byte) (int, error) {
	select {
	case <-f.closed:
		return 0, io.ErrClosedPipe
	case f.written <- append([]byte(nil), b...):
		return len(b), nil
	}
}

func (f *fakeUHID) Read(b []byte) (int, error) {
	select {
	case <-f.closed:
		return 0, io.EOF
	case ev := <-f.toDev:
		return copy(b, ev), nil
	}
}

func (f *fakeUHID) Close() error {
	select {
	case <-f.closed:
	default:
		close(f.closed)
	}
	return nil
}

func (f *fakeUHID) next(t *testing.T) []byte {
	t.Helper()
	select {
	case ev := <-f.written:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no UHID event")
		return nil
	}
}

// kernelOutput builds a UHID_OUTPUT event as the kernel does, with the
// full data array.
func kernelOutput(report []byte) []byte {
	ev := make([]byte, 4+uhidDataMax+2+1)
	binary.NativeEndian.PutUint32(ev, uhidOutput)
	copy(ev[4:], report)
	binary.NativeEndian.PutUint16(ev[4+uhidDataMax:], uint16(len(report)))
	ev[4+uhidDataMax+2] = 1 // UHID_OUTPUT_REPORT
	return ev
}

func TestUHIDEvents(t *testing.T) {
	k := newKey(t, SecurityKeyOptions{})
	f := newFakeUHID()
	u := NewUHID(f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Serve(ctx, k) }()

	ev := f.next(t)
	ne := binary.NativeEndian
	if len(ev) != uhidEventLen || ne.Uint32(ev) != uhidCreate2 {
		t.Fatalf("first event: type %d, %d bytes", ne.Uint32(ev), len(ev))
	}
	p := ev[4:]
	if name := string(bytes.TrimRight(p[:128], "\x00")); !strings.Contains(name, "tokenlab") {
		t.Errorf("name %q", name)
	}
	rdSize := int(ne.Uint16(p[256:]))
	if rdSize != len(FIDOReportDescriptor) || ne.Uint16(p[258:]) != busUSB || ne.Uint32(p[260:]) != UHIDVendor || ne.Uint32(p[264:]) != UHIDProduct {
		t.Errorf("rd_size %d bus %d vendor %x product %x", rdSize, ne.Uint16(p[258:]), ne.Uint32(p[260:]), ne.Uint32(p[264:]))
	}
	if !bytes.Equal(p[276:276+rdSize], FIDOReportDescriptor) {
		t.Error("report descriptor not in the event")
	}

	f.toDev <- encodeType(uhidStart)
	f.toDev <- encodeType(uhidOpen)
	// hidraw's write carries report number 0 in front of the 64 bytes.
	init := ctaphid.InitPacket(ctaphid.BroadcastCID, ctaphid.CmdInit, 8, []byte("nonce123"))
	f.toDev <- kernelOutput(append([]byte{0}, init[:]...))
	ev = f.next(t)
	if ne.Uint32(ev) != uhidInput2 || ne.Uint16(ev[4:]) != 64 || len(ev) != 6+64 {
		t.Fatalf("input event type %d size %d", ne.Uint32(ev), ne.Uint16(ev[4:]))
	}
	report := ev[6:]
	if binary.BigEndian.Uint32(report) != ctaphid.BroadcastCID || report[4] != byte(ctaphid.CmdInit) || string(report[7:15]) != "nonce123" {
		t.Fatalf("INIT answer %x", report[:20])
	}
	// A 64-byte output report without the report number works too.
	cid := binary.BigEndian.Uint32(report[15:])
	ping := ctaphid.InitPacket(cid, ctaphid.CmdPing, 3, []byte("abc"))
	f.toDev <- kernelOutput(ping[:])
	ev = f.next(t)
	if ne.Uint32(ev) != uhidInput2 || string(ev[6+7:6+10]) != "abc" {
		t.Fatalf("PING answer %x", ev[:20])
	}
	// GET_REPORT is refused, not left hanging.
	gr := make([]byte, 4+4+2)
	ne.PutUint32(gr, uhidGetReport)
	ne.PutUint32(gr[4:], 77)
	f.toDev <- gr
	ev = f.next(t)
	if ne.Uint32(ev) != uhidGetReportReply || ne.Uint32(ev[4:]) != 77 || ne.Uint16(ev[8:]) != eio {
		t.Fatalf("GET_REPORT reply %x", ev)
	}
	cancel()
	ev = f.next(t)
	if ne.Uint32(ev) != uhidDestroy {
		t.Fatalf("last event type %d, want DESTROY", ne.Uint32(ev))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestOpenUHIDMissing(t *testing.T) {
	_, err := OpenUHID(filepath.Join(t.TempDir(), "uhid"))
	if !errors.Is(err, ErrNoUHID) || !strings.Contains(err.Error(), "UDP") {
		t.Fatalf("error %v", err)
	}
}

// TestFIDOReportDescriptorPython checks the descriptor with python-fido2's
// own parser, which is how it recognises FIDO devices on Linux.
func TestFIDOReportDescriptorPython(t *testing.T) {
	py := testtool.NeedPython(t, "fido2", "python3-fido2")
	out, err := exec.Command(py, "-c", "import sys; from fido2.hid.base import parse_report_descriptor as p; print(p(bytes.fromhex(sys.argv[1])))",
		hex.EncodeToString(FIDOReportDescriptor)).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "(64, 64)" {
		t.Fatalf("python-fido2 reads the descriptor as %s (%v)", out, err)
	}
}
