package ctaphid

import (
	"errors"
	"fmt"
)

// Packet is one CTAPHID packet, a HID report.
type Packet [ReportLen]byte

// CID returns the channel of the packet.
func (p *Packet) CID() uint32 { return getCID(p[:]) }

// IsInit reports whether p is an initialisation packet (bit 7 of byte 4).
func (p *Packet) IsInit() bool { return p[4]&TypeInit != 0 }

// Cmd returns the command of an initialisation packet.
func (p *Packet) Cmd() Cmd { return Cmd(p[4]) }

// Seq returns the sequence number of a continuation packet.
func (p *Packet) Seq() byte { return p[4] }

// BCNT returns the message length announced by an initialisation packet.
func (p *Packet) BCNT() int { return int(p[5])<<8 | int(p[6]) }

// InitPacket builds an initialisation packet announcing a message of bcnt
// bytes and carrying the first bytes of data (at most [InitDataLen]).
// The rest of the packet is zero.
func InitPacket(cid uint32, cmd Cmd, bcnt int, data []byte) Packet {
	var p Packet
	putCID(p[:], cid)
	p[4] = byte(cmd) | TypeInit
	p[5], p[6] = byte(bcnt>>8), byte(bcnt)
	copy(p[InitHeaderLen:], data)
	return p
}

// ContPacket builds a continuation packet with sequence number seq carrying
// data (at most [ContDataLen] bytes).
func ContPacket(cid uint32, seq byte, data []byte) Packet {
	var p Packet
	putCID(p[:], cid)
	p[4] = seq &^ TypeInit
	copy(p[ContHeaderLen:], data)
	return p
}

// Fragment splits a message into packets: one initialisation packet and as
// many continuation packets (SEQ 0, 1, …) as the payload needs; unused bytes
// are zero. An empty payload gives one packet with BCNT 0. A payload longer
// than [MaxMessageSize] cannot be framed and gives nil.
func Fragment(cid uint32, cmd Cmd, payload []byte) [][ReportLen]byte {
	if len(payload) > MaxMessageSize {
		return nil
	}
	n := 1
	if len(payload) > InitDataLen {
		n += (len(payload) - InitDataLen + ContDataLen - 1) / ContDataLen
	}
	out := make([][ReportLen]byte, 0, n)
	first := payload[:min(len(payload), InitDataLen)]
	out = append(out, InitPacket(cid, cmd, len(payload), first))
	rest := payload[len(first):]
	for seq := byte(0); len(rest) > 0; seq++ {
		chunk := rest[:min(len(rest), ContDataLen)]
		out = append(out, ContPacket(cid, seq, chunk))
		rest = rest[len(chunk):]
	}
	return out
}

// Message is a complete CTAPHID message.
type Message struct {
	CID  uint32
	Cmd  Cmd
	Data []byte
}

// PacketError reports a packet that breaks the framing rules of
// CTAP 2.1 §11.2.4–§11.2.5. CID is the channel that should be told (a device
// answers CTAPHID_ERROR with Code to it); Code is one of ErrInvalidLen,
// ErrInvalidSeq, ErrChannelBusy, ErrInvalidChannel. errors.Is matches the
// ErrCode: errors.Is(err, ctaphid.ErrInvalidSeq).
type PacketError struct {
	CID  uint32
	Code ErrCode
	// Aborted is true when the error also discarded the message that was
	// being assembled (a bad sequence number on its own channel).
	Aborted bool
}

func (e *PacketError) Error() string {
	return fmt.Sprintf("%v (channel %08x)", e.Code.Error(), e.CID)
}

// Is matches the ErrCode of the error.
func (e *PacketError) Is(target error) bool {
	var c ErrCode
	if errors.As(target, &c) {
		return c == e.Code
	}
	return false
}

// ErrShortPacket is returned by Assembler.Add for a packet shorter than the
// header it needs.
var ErrShortPacket = errors.New("ctaphid: short packet")

// Assembler reassembles messages from packets, one transaction at a time, as
// CTAP 2.1 §11.2.5 asks of both ends: a device gives it every packet it
// receives; a host gives it the packets of its own channel (see [Only]).
//
// The rules, for a packet arriving while a message from channel A is being
// assembled:
//   - a continuation packet of A with the next SEQ adds its data;
//     with another SEQ it aborts the message: *PacketError ErrInvalidSeq;
//   - an initialisation packet of A aborts the message and starts a new one
//     if it is INIT (resynchronisation, §11.2.9.1.3), otherwise it is an
//     ErrInvalidSeq error;
//   - any packet of another channel leaves the message alone: an
//     initialisation packet is refused with ErrChannelBusy, a continuation
//     packet is ignored (nil, nil).
//
// With nothing pending, a continuation packet is ignored, an initialisation
// packet announcing more than MaxSize bytes is ErrInvalidLen, and an
// initialisation packet on channel 0, or on the broadcast channel with a
// command other than INIT, is ErrInvalidChannel. Timing (ErrMsgTimeout) is
// the caller's job: see [Assembler.Pending] and [Assembler.Reset].
//
// The zero Assembler is ready to use and accepts messages up to MaxMessageSize.
type Assembler struct {
	// MaxSize, when non-zero, lowers the longest message accepted.
	MaxSize int

	active bool
	cid    uint32
	cmd    Cmd
	need   int
	seq    byte
	data   []byte
}

// Pending reports whether a message is partly assembled, and on which channel.
func (a *Assembler) Pending() (cid uint32, ok bool) { return a.cid, a.active }

// Reset drops any partly assembled message.
func (a *Assembler) Reset() {
	a.active = false
	a.data = nil
}

func (a *Assembler) maxSize() int {
	if a.MaxSize > 0 && a.MaxSize < MaxMessageSize {
		return a.MaxSize
	}
	return MaxMessageSize
}

// Add feeds one packet (extra bytes beyond ReportLen are ignored). It
// returns the message when the packet completes one, nil and nil when more
// packets are needed or the packet was ignored, and *PacketError (or
// ErrShortPacket) for a packet that breaks the rules above.
func (a *Assembler) Add(pkt []byte) (*Message, error) {
	if len(pkt) < ContHeaderLen {
		return nil, ErrShortPacket
	}
	cid := getCID(pkt)
	if pkt[4]&TypeInit == 0 {
		if !a.active || cid != a.cid {
			return nil, nil // spurious continuation packet: ignored
		}
		if pkt[4] != a.seq {
			a.Reset()
			return nil, &PacketError{CID: cid, Code: ErrInvalidSeq, Aborted: true}
		}
		a.seq++
		a.take(pkt[ContHeaderLen:])
		return a.done(), nil
	}
	if len(pkt) < InitHeaderLen {
		return nil, ErrShortPacket
	}
	cmd := Cmd(pkt[4])
	if a.active {
		if cid != a.cid {
			return nil, &PacketError{CID: cid, Code: ErrChannelBusy}
		}
		if cmd != CmdInit {
			a.Reset()
			return nil, &PacketError{CID: cid, Code: ErrInvalidSeq, Aborted: true}
		}
		a.Reset()
	}
	if cid == 0 || (cid == BroadcastCID && cmd != CmdInit) {
		return nil, &PacketError{CID: cid, Code: ErrInvalidChannel}
	}
	bcnt := int(pkt[5])<<8 | int(pkt[6])
	if bcnt > a.maxSize() {
		return nil, &PacketError{CID: cid, Code: ErrInvalidLen}
	}
	a.active, a.cid, a.cmd, a.need, a.seq = true, cid, cmd, bcnt, 0
	a.data = make([]byte, 0, bcnt)
	a.take(pkt[InitHeaderLen:])
	return a.done(), nil
}

func (a *Assembler) take(b []byte) {
	if len(b) > ReportLen {
		b = b[:ReportLen]
	}
	n := min(len(b), a.need-len(a.data))
	a.data = append(a.data, b[:n]...)
}

func (a *Assembler) done() *Message {
	if len(a.data) < a.need {
		if a.seq > MaxSeq { // cannot happen with need <= MaxMessageSize
			a.Reset()
		}
		return nil
	}
	m := &Message{CID: a.cid, Cmd: a.cmd, Data: a.data}
	a.Reset()
	return m
}

// Only returns a filter for a host: it reports whether a packet belongs to
// channel cid. A host drops packets of other channels (other applications
// may share the device) before they reach its Assembler.
func Only(cid uint32) func(pkt []byte) bool {
	return func(pkt []byte) bool { return len(pkt) >= 4 && getCID(pkt) == cid }
}
