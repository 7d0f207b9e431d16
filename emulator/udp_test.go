package emulator

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
)

// udpHost is a test transport: a UDP socket talking to a UDPServer.
type udpHost struct{ *net.UDPConn }

func (u udpHost) Read(b []byte) (int, error) {
	buf := make([]byte, 2048)
	n, err := u.UDPConn.Read(buf)
	return copy(b, buf[:n]), err
}

func startUDP(t testing.TB, k *SecurityKey) *UDPServer {
	t.Helper()
	srv, err := ListenUDP(k, "127.0.0.1:0", "-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

func dialUDP(t testing.TB, srv *UDPServer) udpHost {
	t.Helper()
	c, err := net.DialUDP("udp", nil, srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return udpHost{c}
}

func TestUDP(t *testing.T) {
	k := newKey(t, SecurityKeyOptions{})
	srv := startUDP(t, k)
	rebooted := make(chan error, 1)
	srv.OnReboot = func(err error) { rebooted <- err }
	h := newTestHost(t, dialUDP(t, srv))
	info := h.getInfo()
	if len(info.Versions) != 3 {
		t.Fatalf("%+v", info)
	}
	req := mcReq("udp.example", "u")
	req.Options = &ctap.Options{RK: ctap.Bool(true)}
	ad := makeCred(t, h, k, req)
	// A second client on another port works beside the first.
	h2 := newTestHost(t, dialUDP(t, srv))
	getAssertion(t, h2, &ctap.GetAssertionRequest{RPID: "udp.example", ClientDataHash: cdh("x")}, ad.pubKey)
	// The magic reboot datagram power-cycles the key; credentials stay,
	// channels do not.
	u := dialUDP(t, srv)
	if _, err := u.Write(MagicReboot); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-rebooted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reboot")
	}
	h.send(h.cid, ctaphid.CmdPing, nil)
	h.expectError(h.cid, ctaphid.ErrInvalidChannel)
	h = newTestHost(t, u)
	getAssertion(t, h, &ctap.GetAssertionRequest{RPID: "udp.example", ClientDataHash: cdh("y")}, ad.pubKey)
	if st, _ := h.cbor(ctap.CmdReset, nil); st != ctap.StatusOK {
		t.Fatalf("reset right after the reboot: %v", st)
	}
}

func TestUDPReplyAddress(t *testing.T) {
	// The convention's fixed reply address gets every report too.
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	k := newKey(t, SecurityKeyOptions{})
	srv, err := ListenUDP(k, "127.0.0.1:0", rx.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx)
	c := dialUDP(t, srv)
	p := ctaphid.InitPacket(ctaphid.BroadcastCID, ctaphid.CmdInit, 8, []byte("abcdefgh"))
	c.Write(p[:])
	buf := make([]byte, 128)
	rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := rx.ReadFromUDP(buf)
	if err != nil || n != 64 || string(buf[7:15]) != "abcdefgh" {
		t.Fatalf("reply address got %d bytes %x: %v", n, buf[:n], err)
	}
}
