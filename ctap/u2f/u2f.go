// Package u2f holds the CTAP1/U2F raw message formats (FIDO U2F Raw Message
// Formats v1.2; CTAP 2.1 §11.2.9.1.1 carries them in CTAPHID_MSG): APDU
// commands, status words, and the register and authenticate messages.
package u2f

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Instructions (U2F Raw Message Formats §4–§6).
const (
	InsRegister     = 0x01 // U2F_REGISTER
	InsAuthenticate = 0x02 // U2F_AUTHENTICATE
	InsVersion      = 0x03 // U2F_VERSION
)

// Control bytes of U2F_AUTHENTICATE, carried in P1 (U2F Raw Message Formats §5.1).
const (
	AuthEnforce     = 0x03 // enforce-user-presence-and-sign
	AuthCheckOnly   = 0x07 // check-only: is the key handle ours?
	AuthDontEnforce = 0x08 // dont-enforce-user-presence-and-sign
)

// StatusWord is the trailing SW1SW2 of a response APDU (ISO 7816-4;
// U2F Raw Message Formats §3.3).
type StatusWord uint16

const (
	SWNoError                StatusWord = 0x9000 // SW_NO_ERROR
	SWConditionsNotSatisfied StatusWord = 0x6985 // SW_CONDITIONS_NOT_SATISFIED: touch needed
	SWWrongData              StatusWord = 0x6A80 // SW_WRONG_DATA: bad key handle
	SWWrongLength            StatusWord = 0x6700 // SW_WRONG_LENGTH
	SWInsNotSupported        StatusWord = 0x6D00 // SW_INS_NOT_SUPPORTED
	SWClaNotSupported        StatusWord = 0x6E00 // SW_CLA_NOT_SUPPORTED
)

func (s StatusWord) String() string {
	switch s {
	case SWNoError:
		return "SW_NO_ERROR"
	case SWConditionsNotSatisfied:
		return "SW_CONDITIONS_NOT_SATISFIED"
	case SWWrongData:
		return "SW_WRONG_DATA"
	case SWWrongLength:
		return "SW_WRONG_LENGTH"
	case SWInsNotSupported:
		return "SW_INS_NOT_SUPPORTED"
	case SWClaNotSupported:
		return "SW_CLA_NOT_SUPPORTED"
	}
	return fmt.Sprintf("SW(0x%04X)", uint16(s))
}

// Error makes a StatusWord an error; errors.Is(err, u2f.SWConditionsNotSatisfied) matches.
func (s StatusWord) Error() string { return "u2f: " + s.String() }

// Version is the U2F_VERSION answer.
const Version = "U2F_V2"

// Command is a command APDU.
type Command struct {
	CLA, INS, P1, P2 byte
	Data             []byte
}

// Errors of the parsers.
var (
	// ErrShort is returned for a message shorter than its fields.
	ErrShort = errors.New("u2f: message too short")
	// ErrFormat is returned for a message whose fields are inconsistent.
	ErrFormat = errors.New("u2f: malformed message")
)

// Marshal encodes the APDU with extended length encoding (ISO 7816-4
// §5.1; U2F Raw Message Formats §3.2): CLA INS P1 P2, then, with data,
// 0x00 Lc(2) data, and Le = 0x0000 (up to 65536 bytes) — "00 00 00" without data.
func (c *Command) Marshal() []byte {
	b := []byte{c.CLA, c.INS, c.P1, c.P2}
	if len(c.Data) > 0 {
		b = append(b, 0, byte(len(c.Data)>>8), byte(len(c.Data)))
		b = append(b, c.Data...)
		return append(b, 0, 0)
	}
	return append(b, 0, 0, 0)
}

// ParseCommand decodes a command APDU in extended (or short, for
// compatibility) length encoding.
func ParseCommand(b []byte) (*Command, error) {
	if len(b) < 4 {
		return nil, ErrShort
	}
	c := &Command{CLA: b[0], INS: b[1], P1: b[2], P2: b[3]}
	b = b[4:]
	switch {
	case len(b) == 0: // case 1
	case len(b) == 1: // short Le
	case len(b) == 3 && b[0] == 0: // extended Le only
	case b[0] == 0 && len(b) >= 3: // extended Lc
		n := int(b[1])<<8 | int(b[2])
		if n == 0 || len(b) < 3+n {
			return nil, SWWrongLength
		}
		c.Data = b[3 : 3+n]
		if rest := len(b) - 3 - n; rest != 0 && rest != 2 {
			return nil, SWWrongLength
		}
	default: // short Lc
		n := int(b[0])
		if len(b) < 1+n {
			return nil, SWWrongLength
		}
		c.Data = b[1 : 1+n]
		if rest := len(b) - 1 - n; rest != 0 && rest != 1 {
			return nil, SWWrongLength
		}
	}
	return c, nil
}

// SplitResponse separates a response APDU into data and status word.
func SplitResponse(b []byte) ([]byte, StatusWord, error) {
	if len(b) < 2 {
		return nil, 0, ErrShort
	}
	n := len(b) - 2
	return b[:n], StatusWord(binary.BigEndian.Uint16(b[n:])), nil
}

// Response appends the status word to data.
func Response(data []byte, sw StatusWord) []byte {
	return binary.BigEndian.AppendUint16(append([]byte(nil), data...), uint16(sw))
}

// RegisterRequest builds U2F_REGISTER's data: challenge(32) application(32).
func RegisterRequest(challenge, application [32]byte) *Command {
	d := append(append([]byte(nil), challenge[:]...), application[:]...)
	return &Command{INS: InsRegister, P1: AuthEnforce, Data: d}
}

// RegisterResponse is U2F_REGISTER's answer (U2F Raw Message Formats §4.3):
// 0x05, user public key (65), key handle length, key handle, attestation
// certificate (DER), signature (DER ECDSA) over
// 0x00 || application || challenge || keyHandle || userPublicKey.
type RegisterResponse struct {
	PublicKey   [65]byte
	KeyHandle   []byte
	Certificate []byte
	Signature   []byte
}

// Marshal encodes the register response data (without status word).
func (r *RegisterResponse) Marshal() []byte {
	b := []byte{0x05}
	b = append(b, r.PublicKey[:]...)
	b = append(b, byte(len(r.KeyHandle)))
	b = append(b, r.KeyHandle...)
	b = append(b, r.Certificate...)
	return append(b, r.Signature...)
}

// ParseRegisterResponse decodes the register response data. The
// certificate's length comes from its DER header.
func ParseRegisterResponse(b []byte) (*RegisterResponse, error) {
	if len(b) < 67 {
		return nil, ErrShort
	}
	if b[0] != 0x05 {
		return nil, ErrFormat
	}
	r := &RegisterResponse{}
	copy(r.PublicKey[:], b[1:66])
	n := int(b[66])
	b = b[67:]
	if len(b) < n {
		return nil, ErrShort
	}
	r.KeyHandle = append([]byte(nil), b[:n]...)
	b = b[n:]
	cl, err := derLen(b)
	if err != nil {
		return nil, err
	}
	r.Certificate = append([]byte(nil), b[:cl]...)
	r.Signature = append([]byte(nil), b[cl:]...)
	if len(r.Signature) == 0 {
		return nil, ErrShort
	}
	return r, nil
}

// SignedData returns what a register signature covers.
func (r *RegisterResponse) SignedData(challenge, application [32]byte) []byte {
	b := []byte{0x00}
	b = append(b, application[:]...)
	b = append(b, challenge[:]...)
	b = append(b, r.KeyHandle...)
	return append(b, r.PublicKey[:]...)
}

// derLen returns the total length of the DER SEQUENCE at the start of b.
func derLen(b []byte) (int, error) {
	if len(b) < 2 || b[0] != 0x30 {
		return 0, ErrFormat
	}
	l := int(b[1])
	h := 2
	if l&0x80 != 0 {
		nb := l & 0x7f
		if nb == 0 || nb > 3 || len(b) < 2+nb {
			return 0, ErrFormat
		}
		l = 0
		for _, c := range b[2 : 2+nb] {
			l = l<<8 | int(c)
		}
		h += nb
	}
	if len(b) < h+l {
		return 0, ErrShort
	}
	return h + l, nil
}

// AuthenticateRequest builds U2F_AUTHENTICATE's data: challenge(32)
// application(32) L(1) keyHandle(L), with control byte ctrl in P1.
func AuthenticateRequest(ctrl byte, challenge, application [32]byte, keyHandle []byte) *Command {
	d := append(append([]byte(nil), challenge[:]...), application[:]...)
	d = append(d, byte(len(keyHandle)))
	d = append(d, keyHandle...)
	return &Command{INS: InsAuthenticate, P1: ctrl, Data: d}
}

// AuthenticateResponse is U2F_AUTHENTICATE's answer (§5.4): user presence(1)
// counter(4, big-endian) signature (DER ECDSA) over
// application || userPresence || counter || challenge.
type AuthenticateResponse struct {
	UserPresence byte
	Counter      uint32
	Signature    []byte
}

// Marshal encodes the authenticate response data.
func (r *AuthenticateResponse) Marshal() []byte {
	b := []byte{r.UserPresence}
	b = binary.BigEndian.AppendUint32(b, r.Counter)
	return append(b, r.Signature...)
}

// ParseAuthenticateResponse decodes the authenticate response data.
func ParseAuthenticateResponse(b []byte) (*AuthenticateResponse, error) {
	if len(b) < 6 {
		return nil, ErrShort
	}
	return &AuthenticateResponse{UserPresence: b[0], Counter: binary.BigEndian.Uint32(b[1:5]), Signature: append([]byte(nil), b[5:]...)}, nil
}

// SignedData returns what an authenticate signature covers.
func (r *AuthenticateResponse) SignedData(challenge, application [32]byte) []byte {
	b := append([]byte(nil), application[:]...)
	b = append(b, r.UserPresence)
	b = binary.BigEndian.AppendUint32(b, r.Counter)
	return append(b, challenge[:]...)
}
