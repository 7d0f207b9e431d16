package usbhid

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/karalabe/hid"

	"github.com/tokenlab/tokenlab/ctap/ctaphid"
)

// echoKey is a fake HID key answering INIT and PING.
type echoKey struct {
	out  chan []byte
	asm  ctaphid.Assembler
	shut bool
}

func (k *echoKey) Write(b []byte) (int, error) {
	if runtime.GOOS != "windows" {
		if b[0] != 0 {
			panic("no report ID")
		}
		b = b[1:]
	}
	m, err := k.asm.Add(b)
	if err != nil || m == nil {
		return len(b), nil
	}
	data := m.Data
	cid := m.CID
	if m.Cmd == ctaphid.CmdInit {
		r := ctaphid.InitResponse{CID: 0x1234, ProtocolVersion: 2, Capabilities: ctaphid.CapCBOR}
		copy(r.Nonce[:], data)
		data = r.Marshal()
	}
	for _, p := range ctaphid.Fragment(cid, m.Cmd, data) {
		k.out <- append([]byte(nil), p[:]...)
	}
	return len(b), nil
}

func (k *echoKey) ReadTimeout(b []byte, ms int) (int, error) {
	select {
	case p := <-k.out:
		return copy(b, p), nil
	case <-time.After(time.Duration(ms) * time.Millisecond):
		return 0, nil
	}
}

func (k *echoKey) Close() error { k.shut = true; return nil }

type fakeLib struct {
	devs    []hid.DeviceInfo
	openErr error
	key     *echoKey
}

func (f *fakeLib) supported() bool                      { return true }
func (f *fakeLib) enumerate() ([]hid.DeviceInfo, error) { return f.devs, nil }
func (f *fakeLib) open(hid.DeviceInfo) (rawDevice, error) {
	if f.openErr != nil {
		return nil, f.openErr
	}
	return f.key, nil
}

func withLib(t *testing.T, b backend) {
	old := lib
	lib = b
	t.Cleanup(func() { lib = old })
}

func TestFakeKey(t *testing.T) {
	key := &echoKey{out: make(chan []byte, 300)}
	withLib(t, &fakeLib{key: key, devs: []hid.DeviceInfo{
		{Path: "0001:0002:00", UsagePage: 0x0001, Product: "keyboard"},
		{Path: "0001:0003:00", UsagePage: UsagePage, Product: "Key"},
	}})
	infos, err := Enumerate()
	if err != nil || len(infos) != 1 || infos[0].Product != "Key" {
		t.Fatal(infos, err)
	}
	dev, err := Open(infos[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	d := ctaphid.NewDevice(dev)
	defer d.Close()
	ch, err := d.Open(context.Background())
	if err != nil || ch.CID() != 0x1234 {
		t.Fatal(ch, err)
	}
	payload := bytes.Repeat([]byte{7}, 1000)
	if err := ch.Ping(context.Background(), payload); err != nil {
		t.Fatal(err)
	}
	if _, err := Open("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}

func TestOpenFailure(t *testing.T) {
	withLib(t, &fakeLib{openErr: errors.New("hidapi: failed to open device"), devs: []hid.DeviceInfo{{Path: "0001:0003:00", UsagePage: UsagePage}}})
	if _, err := Open("0001:0003:00"); err == nil || errors.Is(err, ErrPermission) {
		t.Fatalf("err = %v, want a plain open failure", err)
	}
	old := accessDenied
	accessDenied = func(string) bool { return true }
	defer func() { accessDenied = old }()
	if _, err := Open("0001:0003:00"); !errors.Is(err, ErrPermission) {
		t.Fatalf("err = %v, want ErrPermission", err)
	}
	if !strings.Contains(PermissionHint, "udev") {
		t.Fatal("the hint does not name udev")
	}
}

func TestDeniedPathMapping(t *testing.T) {
	// A libusb path that maps to a missing node is not "denied".
	if denied("0fff:0fff:00") || denied("not-a-path") {
		t.Fatal("missing node reported as permission failure")
	}
}

// TestEnumerateHere runs the real enumeration: on a machine without a key
// it finds none and does not fail.
func TestEnumerateHere(t *testing.T) {
	infos, err := Enumerate()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d FIDO keys", len(infos))
}
