// Package ctaphid implements the framing of CTAPHID, the HID transport of
// CTAP (CTAP 2.1 §11.2): a message is split into one initialisation packet
// and up to 128 continuation packets of [ReportLen] bytes each, addressed to
// a channel (CID) that the host allocated with [CmdInit].
//
// The package holds only what both ends of the wire share — constants,
// [Fragment], the [Assembler] and the INIT response layout — so the host
// (package ctap) and the device (firmware-sim/fidofw) frame messages with the
// same code. Transports are io.ReadWriters of 64-byte reports.
//
// A host sends a request and reads the answer:
//
//	for _, p := range ctaphid.Fragment(cid, ctaphid.CmdPing, payload) {
//		dev.Write(p[:])
//	}
//	var a ctaphid.Assembler
//	for {
//		n, _ := dev.Read(buf)
//		msg, err := a.Add(buf[:n])
//		...
//	}
package ctaphid

import "fmt"

// ReportLen is the size of one HID report, and so of every CTAPHID packet,
// on full-speed USB (CTAP 2.1 §11.2.4).
const ReportLen = 64

// Packet layout (CTAP 2.1 §11.2.4).
const (
	// InitHeaderLen is CID(4) CMD(1) BCNTH(1) BCNTL(1).
	InitHeaderLen = 7
	// ContHeaderLen is CID(4) SEQ(1).
	ContHeaderLen = 5
	// InitDataLen is the payload carried by an initialisation packet.
	InitDataLen = ReportLen - InitHeaderLen // 57
	// ContDataLen is the payload carried by a continuation packet.
	ContDataLen = ReportLen - ContHeaderLen // 59
	// MaxSeq is the last continuation sequence number (SEQ is 0..0x7f).
	MaxSeq = 0x7f
	// MaxMessageSize is the largest message: one initialisation packet and
	// 128 continuation packets, 57 + 128*59 = 7609 bytes (CTAP 2.1 §11.2.4).
	MaxMessageSize = InitDataLen + (MaxSeq+1)*ContDataLen
)

// BroadcastCID is the channel on which INIT allocates a new channel
// (CTAP 2.1 §11.2.3). Channel 0 is reserved and never valid.
const BroadcastCID uint32 = 0xffffffff

// Cmd is a CTAPHID command (CTAP 2.1 §11.2.9). On the wire an
// initialisation packet carries Cmd with bit 7 set; the constants include it.
type Cmd byte

// CTAPHID commands, CTAP 2.1 §11.2.9.1 (mandatory) and §11.2.9.2 (optional).
const (
	CmdPing      Cmd = 0x81 // §11.2.9.1.4: echo the payload
	CmdMsg       Cmd = 0x83 // §11.2.9.1.1: a CTAP1/U2F APDU
	CmdLock      Cmd = 0x84 // §11.2.9.2.2: lock the device to a channel for N seconds
	CmdInit      Cmd = 0x86 // §11.2.9.1.3: allocate a channel / resynchronise
	CmdWink      Cmd = 0x88 // §11.2.9.2.1: identify the device visually
	CmdCBOR      Cmd = 0x90 // §11.2.9.1.2: a CTAP2 CBOR command
	CmdCancel    Cmd = 0x91 // §11.2.9.1.5: cancel the outstanding request
	CmdKeepalive Cmd = 0xbb // §11.2.9.1.7: device → host, still processing
	CmdError     Cmd = 0xbf // §11.2.9.1.6: device → host, one ErrCode byte
)

// TypeInit is bit 7 of the command byte, set in initialisation packets.
const TypeInit = 0x80

func (c Cmd) String() string {
	switch c {
	case CmdPing:
		return "PING"
	case CmdMsg:
		return "MSG"
	case CmdLock:
		return "LOCK"
	case CmdInit:
		return "INIT"
	case CmdWink:
		return "WINK"
	case CmdCBOR:
		return "CBOR"
	case CmdCancel:
		return "CANCEL"
	case CmdKeepalive:
		return "KEEPALIVE"
	case CmdError:
		return "ERROR"
	}
	return fmt.Sprintf("Cmd(0x%02x)", byte(c))
}

// ErrCode is the payload byte of a CTAPHID_ERROR response (CTAP 2.1 §11.2.9.1.6).
type ErrCode byte

// CTAPHID error codes, CTAP 2.1 §11.2.9.1.6.
const (
	ErrInvalidCmd     ErrCode = 0x01 // the command is not known
	ErrInvalidPar     ErrCode = 0x02 // a parameter is invalid
	ErrInvalidLen     ErrCode = 0x03 // BCNT is invalid
	ErrInvalidSeq     ErrCode = 0x04 // a continuation packet is out of sequence
	ErrMsgTimeout     ErrCode = 0x05 // the message was not completed in time
	ErrChannelBusy    ErrCode = 0x06 // another channel has a transaction running
	ErrLockRequired   ErrCode = 0x0a // the command needs a channel lock
	ErrInvalidChannel ErrCode = 0x0b // the CID is not valid
	ErrOther          ErrCode = 0x7f // unspecified
)

// errCodeText is each error code's spec name and its message.
var errCodeText = map[ErrCode]struct{ name, msg string }{
	ErrInvalidCmd:     {"ERR_INVALID_CMD", "invalid command"},
	ErrInvalidPar:     {"ERR_INVALID_PAR", "invalid parameter"},
	ErrInvalidLen:     {"ERR_INVALID_LEN", "invalid length"},
	ErrInvalidSeq:     {"ERR_INVALID_SEQ", "invalid sequence"},
	ErrMsgTimeout:     {"ERR_MSG_TIMEOUT", "message timeout"},
	ErrChannelBusy:    {"ERR_CHANNEL_BUSY", "channel busy"},
	ErrLockRequired:   {"ERR_LOCK_REQUIRED", "lock required"},
	ErrInvalidChannel: {"ERR_INVALID_CHANNEL", "invalid channel"},
	ErrOther:          {"ERR_OTHER", "other error"},
}

func (e ErrCode) String() string {
	if t, ok := errCodeText[e]; ok {
		return t.name
	}
	return fmt.Sprintf("ErrCode(0x%02x)", byte(e))
}

// Error makes an ErrCode usable as an error: the host returns it when the
// device answers CTAPHID_ERROR, the Assembler when a packet breaks the
// framing rules. Match with errors.Is(err, ctaphid.ErrInvalidSeq).
func (e ErrCode) Error() string {
	if t, ok := errCodeText[e]; ok {
		return "ctaphid: " + t.msg
	}
	return fmt.Sprintf("ctaphid: error 0x%02x", byte(e))
}

// KeepaliveStatus is the payload byte of CTAPHID_KEEPALIVE (CTAP 2.1 §11.2.9.1.7).
type KeepaliveStatus byte

const (
	StatusProcessing KeepaliveStatus = 1 // the authenticator is still working
	StatusUPNeeded   KeepaliveStatus = 2 // the authenticator waits for a touch
)

func (s KeepaliveStatus) String() string {
	switch s {
	case StatusProcessing:
		return "PROCESSING"
	case StatusUPNeeded:
		return "UPNEEDED"
	}
	return fmt.Sprintf("KeepaliveStatus(%d)", byte(s))
}

// Capability is a bit of the capabilities byte of the INIT response
// (CTAP 2.1 §11.2.9.1.3).
type Capability byte

const (
	CapWink Capability = 0x01 // implements CTAPHID_WINK
	CapCBOR Capability = 0x04 // implements CTAPHID_CBOR
	CapNMSG Capability = 0x08 // does NOT implement CTAPHID_MSG
)

func (c Capability) String() string {
	s := ""
	add := func(n string) {
		if s != "" {
			s += "|"
		}
		s += n
	}
	if c&CapWink != 0 {
		add("WINK")
	}
	if c&CapCBOR != 0 {
		add("CBOR")
	}
	if c&CapNMSG != 0 {
		add("NMSG")
	}
	if rest := c &^ (CapWink | CapCBOR | CapNMSG); rest != 0 || s == "" {
		add(fmt.Sprintf("0x%02x", byte(rest)))
	}
	return s
}

// ProtocolVersion is the CTAPHID protocol version in the INIT response.
const ProtocolVersion = 2

// NonceLen is the length of the INIT nonce.
const NonceLen = 8

// InitResponseLen is the length of the INIT response payload.
const InitResponseLen = 17

// InitResponse is the payload of the INIT response (CTAP 2.1 §11.2.9.1.3):
// nonce(8) CID(4) version(1) major(1) minor(1) build(1) capabilities(1).
type InitResponse struct {
	Nonce           [NonceLen]byte
	CID             uint32
	ProtocolVersion byte
	Major           byte
	Minor           byte
	Build           byte
	Capabilities    Capability
}

// Marshal encodes r as the 17-byte INIT response payload.
func (r *InitResponse) Marshal() []byte {
	b := make([]byte, InitResponseLen)
	copy(b, r.Nonce[:])
	putCID(b[8:], r.CID)
	b[12] = r.ProtocolVersion
	b[13] = r.Major
	b[14] = r.Minor
	b[15] = r.Build
	b[16] = byte(r.Capabilities)
	return b
}

// ParseInitResponse decodes an INIT response payload. Extra bytes after the
// 17 defined ones are ignored, as CTAP 2.1 §11.2.9.1.3 allows.
func ParseInitResponse(b []byte) (*InitResponse, error) {
	if len(b) < InitResponseLen {
		return nil, fmt.Errorf("ctaphid: INIT response of %d bytes, want %d", len(b), InitResponseLen)
	}
	r := &InitResponse{
		CID:             getCID(b[8:]),
		ProtocolVersion: b[12],
		Major:           b[13],
		Minor:           b[14],
		Build:           b[15],
		Capabilities:    Capability(b[16]),
	}
	copy(r.Nonce[:], b)
	return r, nil
}

func putCID(b []byte, cid uint32) {
	b[0], b[1], b[2], b[3] = byte(cid>>24), byte(cid>>16), byte(cid>>8), byte(cid)
}

func getCID(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
