package emulator

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net"
	"sync"

	"github.com/tokenlab/tokenlab/ctap/ctaphid"
)

// The CTAPHID-over-UDP simulation convention (SoloKeys' simulator, Trezor's
// emulator, fido2-tests): one 64-byte HID report per datagram; the key
// listens on DefaultUDPListen and answers to DefaultUDPReply.
const (
	DefaultUDPListen = "127.0.0.1:8111"
	DefaultUDPReply  = "127.0.0.1:7112"
)

// MagicReboot is the convention's 64-byte "magic reboot" datagram: a key
// that receives it power-cycles (its flash, and so its credentials, stay).
var MagicReboot = mustHex("ac1052ca95e569de69e02ebff333485f13f9b2da34c5a8a340526697a9ab2e0b" +
	"394d8d04973c134005be1a0140bff6045bb26eb77a73eaa47813f6b49a7250dc")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// maxUDPPeers bounds the senders a UDPServer answers besides the reply
// address; the least recently heard is dropped first.
const maxUDPPeers = 8

// UDPServer exposes a [SecurityKey] over UDP in the simulation convention:
// every datagram received is an input report; every report the key sends
// goes to the reply address and to every recent sender, so clients on any
// port work (each filters by its channel, as on a shared HID device).
type UDPServer struct {
	key   *SecurityKey
	conn  *net.UDPConn
	reply *net.UDPAddr
	port  *HIDPort

	mu    sync.Mutex
	peers []*net.UDPAddr // most recent last

	// OnReboot, when set, is called after a magic reboot datagram has
	// power-cycled the key.
	OnReboot func(error)
}

// ListenUDP binds listen (DefaultUDPListen when ""; port 0 picks a free
// one) and answers to reply as well as to senders (DefaultUDPReply when "";
// "-" for senders only).
func ListenUDP(key *SecurityKey, listen, reply string) (*UDPServer, error) {
	if listen == "" {
		listen = DefaultUDPListen
	}
	la, err := net.ResolveUDPAddr("udp", listen)
	if err != nil {
		return nil, err
	}
	s := &UDPServer{key: key}
	if reply == "" {
		reply = DefaultUDPReply
	}
	if reply != "-" {
		if s.reply, err = net.ResolveUDPAddr("udp", reply); err != nil {
			return nil, err
		}
	}
	if s.conn, err = net.ListenUDP("udp", la); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr returns the address the server listens on.
func (s *UDPServer) Addr() *net.UDPAddr { return s.conn.LocalAddr().(*net.UDPAddr) }

// Serve relays datagrams until ctx ends or the server is closed; it
// returns nil then.
func (s *UDPServer) Serve(ctx context.Context) error {
	s.port = s.key.Open()
	defer s.port.Close()
	s.port.detach() // input only: output goes out through the subscription
	defer s.key.Subscribe(s.forward)()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			s.conn.Close()
		case <-done:
		}
	}()
	buf := make([]byte, 2048)
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		s.heard(from)
		d := buf[:n]
		if bytes.Equal(d, MagicReboot) {
			err := s.key.PowerCycle()
			if s.OnReboot != nil {
				s.OnReboot(err)
			}
			continue
		}
		if len(d) == ctaphid.ReportLen+1 && d[0] == 0 {
			d = d[1:]
		}
		if len(d) > ctaphid.ReportLen || len(d) < ctaphid.ContHeaderLen {
			continue // not a report
		}
		s.port.Write(d)
	}
}

// forward sends one of the key's reports to the reply address and to the
// recent senders.
func (s *UDPServer) forward(pkt ctaphid.Packet) {
	s.mu.Lock()
	peers := s.peers
	s.mu.Unlock()
	if s.reply != nil {
		s.conn.WriteToUDP(pkt[:], s.reply)
	}
	for _, p := range peers {
		if s.reply != nil && p.IP.Equal(s.reply.IP) && p.Port == s.reply.Port {
			continue
		}
		s.conn.WriteToUDP(pkt[:], p)
	}
}

func (s *UDPServer) heard(from *net.UDPAddr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.peers {
		if p.IP.Equal(from.IP) && p.Port == from.Port {
			if i != len(s.peers)-1 {
				peers := append(append([]*net.UDPAddr(nil), s.peers[:i]...), s.peers[i+1:]...)
				s.peers = append(peers, p)
			}
			return
		}
	}
	// A new slice each time: forward reads the old one without the lock.
	peers := append([]*net.UDPAddr(nil), s.peers...)
	if len(peers) >= maxUDPPeers {
		peers = peers[1:]
	}
	s.peers = append(peers, from)
}

// Close stops the server.
func (s *UDPServer) Close() error { return s.conn.Close() }
