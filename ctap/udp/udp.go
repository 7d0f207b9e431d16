// Package udp is the CTAPHID-over-UDP transport of authenticator
// simulators (SoloKeys' simulator, Trezor's emulator, fido2-tests; see
// DESIGN.md "CTAPHID over UDP"): one 64-byte HID report per datagram, the
// authenticator on 127.0.0.1:8111, the client on 127.0.0.1:7112.
//
//	c, err := udp.Dial(udp.DefaultDevice, "127.0.0.1:0") // any free local port
//	ch, err := ctaphid.NewDevice(c).Open(ctx)
//	...
//	c.PowerCycle() // the convention's magic reboot datagram
package udp

import (
	"encoding/hex"
	"fmt"
	"net"
	"time"

	"github.com/tokenlab/tokenlab/ctap/ctaphid"
)

// Addresses of the convention.
const (
	DefaultDevice = "127.0.0.1:8111" // where the simulated authenticator listens
	DefaultLocal  = "127.0.0.1:7112" // where the client listens
)

// MagicReboot is the 64-byte report that power-cycles a simulated key
// (DESIGN.md); its flash image, and so its credentials, survive.
var MagicReboot = func() (p ctaphid.Packet) {
	b, _ := hex.DecodeString("ac1052ca95e569de69e02ebff333485f13f9b2da34c5a8a340526697a9ab2e0b394d8d04973c134005be1a0140bff6045bb26eb77a73eaa47813f6b49a7250dc")
	copy(p[:], b)
	return p
}()

// Conn is a client's UDP socket to one simulated authenticator: an
// io.ReadWriteCloser of 64-byte reports. Datagrams from other addresses
// are dropped.
type Conn struct {
	conn   *net.UDPConn
	remote *net.UDPAddr
}

// Dial binds local ("" means DefaultLocal; "127.0.0.1:0" any free port, for
// tests running in parallel) and sends to device ("" means DefaultDevice).
func Dial(device, local string) (*Conn, error) {
	if device == "" {
		device = DefaultDevice
	}
	if local == "" {
		local = DefaultLocal
	}
	ra, err := net.ResolveUDPAddr("udp", device)
	if err != nil {
		return nil, fmt.Errorf("udp: device address: %w", err)
	}
	la, err := net.ResolveUDPAddr("udp", local)
	if err != nil {
		return nil, fmt.Errorf("udp: local address: %w", err)
	}
	c, err := net.ListenUDP("udp", la)
	if err != nil {
		return nil, fmt.Errorf("udp: bind %s: %w", local, err)
	}
	return &Conn{conn: c, remote: ra}, nil
}

// LocalAddr returns the bound address.
func (c *Conn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// Write sends one report (padded or cut to 64 bytes) as a datagram.
func (c *Conn) Write(b []byte) (int, error) {
	var p ctaphid.Packet
	copy(p[:], b)
	if _, err := c.conn.WriteToUDP(p[:], c.remote); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Read returns the next datagram from the device.
func (c *Conn) Read(b []byte) (int, error) {
	buf := make([]byte, 2048)
	for {
		n, from, err := c.conn.ReadFromUDP(buf)
		if err != nil {
			return 0, err
		}
		if !from.IP.Equal(c.remote.IP) || from.Port != c.remote.Port {
			continue
		}
		return copy(b, buf[:n]), nil
	}
}

// SetReadDeadline sets the socket's read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

// PowerCycle sends the magic reboot datagram. The simulated key reboots:
// channels are forgotten (open a new one), PIN-blocked-until-power-cycle
// state clears, credentials survive.
func (c *Conn) PowerCycle() error {
	_, err := c.conn.WriteToUDP(MagicReboot[:], c.remote)
	return err
}

// Close closes the socket.
func (c *Conn) Close() error { return c.conn.Close() }
