package fidofw

import "encoding/binary"

// Authenticator data flags (WebAuthn §6.1, CTAP 2.1 §6.1.2 step 13).
const (
	flagUP = 0x01 // user present
	flagUV = 0x04 // user verified
	flagAT = 0x40 // attested credential data included
	flagED = 0x80 // extension data included
)

// authData builds authenticator data (WebAuthn §6.1): rpIdHash(32) |
// flags(1) | signCount(4, big-endian) | [attestedCredentialData] | [extensions].
// attested is aaguid(16) | credentialIdLength(2) | credentialId | COSE key.
func authData(rpIDHash []byte, flags byte, counter uint32, attested, ext []byte) []byte {
	b := make([]byte, 0, 37+len(attested)+len(ext))
	b = append(b, rpIDHash...)
	if attested != nil {
		flags |= flagAT
	}
	if ext != nil {
		flags |= flagED
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint32(b, counter)
	b = append(b, attested...)
	return append(b, ext...)
}

func attestedCredentialData(aaguid, credID, coseKey []byte) []byte {
	b := make([]byte, 0, 18+len(credID)+len(coseKey))
	b = append(b, aaguid...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(credID)))
	b = append(b, credID...)
	return append(b, coseKey...)
}
