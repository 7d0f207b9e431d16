package ctap

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// AuthData flags (WebAuthn Level 2 §6.1, CTAP 2.1 §6.1.2).
type Flags byte

const (
	FlagUP Flags = 0x01 // user present
	FlagUV Flags = 0x04 // user verified
	FlagBE Flags = 0x08 // backup eligible (WebAuthn Level 3)
	FlagBS Flags = 0x10 // backed up (WebAuthn Level 3)
	FlagAT Flags = 0x40 // attested credential data included
	FlagED Flags = 0x80 // extension data included
)

func (f Flags) String() string {
	s := ""
	for _, x := range []struct {
		f Flags
		n string
	}{{FlagUP, "UP"}, {FlagUV, "UV"}, {FlagBE, "BE"}, {FlagBS, "BS"}, {FlagAT, "AT"}, {FlagED, "ED"}} {
		if f&x.f != 0 {
			if s != "" {
				s += "|"
			}
			s += x.n
		}
	}
	if s == "" {
		return "0"
	}
	return s
}

// AttestedCredentialData is the optional part of AuthData that carries a
// new credential (WebAuthn §6.5.1): AAGUID(16) L(2, big-endian) credentialId(L)
// credentialPublicKey (a COSE_Key).
type AttestedCredentialData struct {
	AAGUID       [16]byte
	CredentialID []byte
	PublicKey    COSEKey
	// RawPublicKey is the CBOR of the key as it appeared on the wire.
	RawPublicKey []byte
}

// AuthData is the authenticator data (WebAuthn §6.1): rpIdHash(32)
// flags(1) signCount(4, big-endian) [attestedCredentialData] [extensions].
type AuthData struct {
	RPIDHash   [32]byte
	Flags      Flags
	SignCount  uint32
	Attested   *AttestedCredentialData // present when Flags has AT
	Extensions map[string]any          // present when Flags has ED
	// RawExtensions is the CBOR of the extensions map as it appeared.
	RawExtensions []byte
}

// RPIDHash returns SHA-256 of an RP ID.
func RPIDHash(rpID string) [32]byte { return sha256.Sum256([]byte(rpID)) }

// Errors of ParseAuthData.
var (
	// ErrAuthDataShort is returned for authenticator data shorter than
	// its 37 fixed bytes or than what its flags announce.
	ErrAuthDataShort = errors.New("ctap: authenticator data too short")
	// ErrAuthDataTrailing is returned for bytes left after what the flags announce.
	ErrAuthDataTrailing = errors.New("ctap: trailing bytes after authenticator data")
)

// Marshal encodes the authenticator data. Flags AT and ED are set from
// whether Attested and Extensions are present.
func (a *AuthData) Marshal() ([]byte, error) {
	var b bytes.Buffer
	b.Write(a.RPIDHash[:])
	f := a.Flags &^ (FlagAT | FlagED)
	if a.Attested != nil {
		f |= FlagAT
	}
	if len(a.Extensions) > 0 {
		f |= FlagED
	}
	b.WriteByte(byte(f))
	binary.Write(&b, binary.BigEndian, a.SignCount)
	if at := a.Attested; at != nil {
		if len(at.CredentialID) > 0xffff {
			return nil, fmt.Errorf("ctap: credential ID of %d bytes", len(at.CredentialID))
		}
		b.Write(at.AAGUID[:])
		binary.Write(&b, binary.BigEndian, uint16(len(at.CredentialID)))
		b.Write(at.CredentialID)
		k, err := Marshal(&at.PublicKey)
		if err != nil {
			return nil, err
		}
		b.Write(k)
	}
	if len(a.Extensions) > 0 {
		e, err := Marshal(a.Extensions)
		if err != nil {
			return nil, err
		}
		b.Write(e)
	}
	return b.Bytes(), nil
}

// ParseAuthData decodes authenticator data, refusing truncated data and
// trailing bytes.
func ParseAuthData(b []byte) (*AuthData, error) {
	if len(b) < 37 {
		return nil, ErrAuthDataShort
	}
	a := &AuthData{Flags: Flags(b[32]), SignCount: binary.BigEndian.Uint32(b[33:37])}
	copy(a.RPIDHash[:], b)
	rest := b[37:]
	if a.Flags&FlagAT != 0 {
		if len(rest) < 18 {
			return nil, ErrAuthDataShort
		}
		at := &AttestedCredentialData{}
		copy(at.AAGUID[:], rest)
		n := int(binary.BigEndian.Uint16(rest[16:18]))
		rest = rest[18:]
		if len(rest) < n {
			return nil, ErrAuthDataShort
		}
		at.CredentialID = append([]byte(nil), rest[:n]...)
		rest = rest[n:]
		var raw cbor.RawMessage
		r, err := DecMode().UnmarshalFirst(rest, &raw)
		if err != nil {
			return nil, fmt.Errorf("ctap: credential public key: %w", err)
		}
		if err := Unmarshal(raw, &at.PublicKey); err != nil {
			return nil, fmt.Errorf("ctap: credential public key: %w", err)
		}
		at.RawPublicKey = append([]byte(nil), raw...)
		rest = r
		a.Attested = at
	}
	if a.Flags&FlagED != 0 {
		var raw cbor.RawMessage
		r, err := DecMode().UnmarshalFirst(rest, &raw)
		if err != nil {
			return nil, fmt.Errorf("ctap: extensions: %w", err)
		}
		if err := Unmarshal(raw, &a.Extensions); err != nil {
			return nil, fmt.Errorf("ctap: extensions: %w", err)
		}
		a.RawExtensions = append([]byte(nil), raw...)
		rest = r
	}
	if len(rest) != 0 {
		return nil, ErrAuthDataTrailing
	}
	return a, nil
}
