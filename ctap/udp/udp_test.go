package udp

import (
	"bytes"
	"net"
	"testing"
	"time"
)

func TestConn(t *testing.T) {
	dev, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	stranger, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	c, err := Dial(dev.LocalAddr().String(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// A report goes out as one 64-byte datagram.
	if _, err := c.Write([]byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	dev.SetReadDeadline(time.Now().Add(time.Second))
	n, from, err := dev.ReadFromUDP(buf)
	if err != nil || n != 64 || !bytes.Equal(buf[:3], []byte{1, 2, 3}) {
		t.Fatalf("n %d err %v", n, err)
	}
	// Datagrams from others are dropped; the device's are read.
	stranger.WriteToUDP(bytes.Repeat([]byte{9}, 64), from)
	dev.WriteToUDP(bytes.Repeat([]byte{7}, 64), from)
	c.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := c.Read(buf); err != nil || n != 64 || buf[0] != 7 {
		t.Fatalf("read %d %v %x", n, err, buf[:1])
	}
	// Power cycle is the magic reboot datagram.
	if err := c.PowerCycle(); err != nil {
		t.Fatal(err)
	}
	n, _, err = dev.ReadFromUDP(buf)
	if err != nil || !bytes.Equal(buf[:n], MagicReboot[:]) {
		t.Fatalf("magic reboot: %x %v", buf[:n], err)
	}
	if MagicReboot[0] != 0xac || MagicReboot[63] != 0xdc {
		t.Fatal("magic reboot bytes")
	}
}

func TestDialErrors(t *testing.T) {
	if _, err := Dial("nonsense", "127.0.0.1:0"); err == nil {
		t.Fatal("bad device address accepted")
	}
	a, err := Dial("", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := Dial("", a.LocalAddr().String()); err == nil {
		t.Fatal("second bind of the same port accepted")
	}
}
