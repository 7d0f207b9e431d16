package ctap

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/tokenlab/tokenlab/ctap/cose"
	"github.com/tokenlab/tokenlab/ctap/u2f"
)

// ErrAttestation is returned (wrapped, with the reason) for an attestation
// statement or assertion that does not verify.
var ErrAttestation = errors.New("ctap: verification failed")

func attErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrAttestation, fmt.Sprintf(format, a...))
}

// Attestation is a verified attestation object.
type Attestation struct {
	Fmt      string
	AuthData *AuthData
	// Type is "basic" (x5c chain), "self" (signed by the credential key)
	// or "none".
	Type string
	// Certificates is the x5c chain, leaf first, for basic attestation.
	Certificates []*x509.Certificate
}

// idFidoGenCeAAGUID is the certificate extension carrying the AAGUID
// (WebAuthn §8.2.1).
var idFidoGenCeAAGUID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 45724, 1, 1, 4}

// VerifyAttestation checks a MakeCredential response for clientDataHash and
// rpID: the authenticator data (rpIdHash, AT flag, a usable credential key)
// and the statement, for formats packed (x5c or self, WebAuthn §8.2),
// fido-u2f (§8.6) and none (§8.7). It does not judge whether the
// attestation certificate is trusted; that is the relying party's policy.
func VerifyAttestation(resp *MakeCredentialResponse, clientDataHash []byte, rpID string) (*Attestation, error) {
	ad, err := ParseAuthData(resp.AuthData)
	if err != nil {
		return nil, err
	}
	if ad.RPIDHash != RPIDHash(rpID) {
		return nil, attErr("rpIdHash is not SHA-256(%q)", rpID)
	}
	if ad.Attested == nil {
		return nil, attErr("no attested credential data")
	}
	credKey := &ad.Attested.PublicKey
	if _, err := credKey.Public(); err != nil {
		return nil, attErr("credential public key: %v", err)
	}
	att := &Attestation{Fmt: resp.Fmt, AuthData: ad}
	signed := append(append([]byte(nil), resp.AuthData...), clientDataHash...)
	st := resp.AttStmt
	switch resp.Fmt {
	case FmtNone:
		if len(st) != 0 {
			return nil, attErr("none attestation with a statement")
		}
		att.Type = "none"
	case FmtPacked:
		alg, ok := intOf(st["alg"])
		sig, ok2 := st["sig"].([]byte)
		if !ok || !ok2 {
			return nil, attErr("packed: alg or sig missing")
		}
		if x5c, present := st["x5c"]; present {
			certs, err := parseX5C(x5c)
			if err != nil {
				return nil, err
			}
			leaf := certs[0]
			if cose.Alg(alg) != cose.AlgES256 {
				return nil, attErr("packed: attestation alg %d unsupported", alg)
			}
			if err := leaf.CheckSignature(x509.ECDSAWithSHA256, signed, sig); err != nil {
				return nil, attErr("packed: signature: %v", err)
			}
			if err := checkPackedCert(leaf, ad.Attested.AAGUID); err != nil {
				return nil, err
			}
			att.Type, att.Certificates = "basic", certs
		} else {
			if credKey.Alg != 0 && int64(credKey.Alg) != alg {
				return nil, attErr("packed self: alg %d differs from the credential's %d", alg, credKey.Alg)
			}
			if err := credKey.Verify(signed, sig); err != nil {
				return nil, attErr("packed self: %v", err)
			}
			att.Type = "self"
		}
	case FmtFIDOU2F:
		sig, ok := st["sig"].([]byte)
		if !ok {
			return nil, attErr("fido-u2f: sig missing")
		}
		certs, err := parseX5C(st["x5c"])
		if err != nil {
			return nil, err
		}
		if len(certs) != 1 {
			return nil, attErr("fido-u2f: x5c must hold one certificate")
		}
		pub, ok := certs[0].PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			return nil, attErr("fido-u2f: certificate key is not P-256")
		}
		point, err := credKey.Uncompressed()
		if err != nil {
			return nil, attErr("fido-u2f: credential key: %v", err)
		}
		// WebAuthn §8.6: 0x00 || rpIdHash || clientDataHash || credentialId || publicKeyU2F
		msg := []byte{0}
		msg = append(msg, ad.RPIDHash[:]...)
		msg = append(msg, clientDataHash...)
		msg = append(msg, ad.Attested.CredentialID...)
		msg = append(msg, point...)
		if err := certs[0].CheckSignature(x509.ECDSAWithSHA256, msg, sig); err != nil {
			return nil, attErr("fido-u2f: signature: %v", err)
		}
		att.Type, att.Certificates = "basic", certs
	default:
		return nil, attErr("attestation format %q not supported", resp.Fmt)
	}
	return att, nil
}

func intOf(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case uint64:
		if x > 1<<62 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}

func parseX5C(v any) ([]*x509.Certificate, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, attErr("x5c missing or empty")
	}
	var certs []*x509.Certificate
	for _, e := range list {
		der, ok := e.([]byte)
		if !ok {
			return nil, attErr("x5c entry is not a byte string")
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, attErr("x5c: %v", err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// checkPackedCert applies WebAuthn §8.2.1: version 3, subject OU
// "Authenticator Attestation", not a CA, and an AAGUID extension, if any,
// equal to the authenticator data's.
func checkPackedCert(c *x509.Certificate, aaguid [16]byte) error {
	if c.Version != 3 {
		return attErr("packed: certificate version %d", c.Version)
	}
	ou := false
	for _, u := range c.Subject.OrganizationalUnit {
		ou = ou || u == "Authenticator Attestation"
	}
	if !ou || len(c.Subject.Organization) == 0 || len(c.Subject.Country) == 0 || c.Subject.CommonName == "" {
		return attErr("packed: certificate subject lacks C, O, OU=Authenticator Attestation or CN")
	}
	if c.IsCA {
		return attErr("packed: attestation certificate is a CA")
	}
	for _, ext := range c.Extensions {
		if ext.Id.Equal(idFidoGenCeAAGUID) {
			if ext.Critical {
				return attErr("packed: AAGUID extension marked critical")
			}
			var v []byte
			if _, err := asn1.Unmarshal(ext.Value, &v); err != nil || !bytes.Equal(v, aaguid[:]) {
				return attErr("packed: certificate AAGUID differs from authenticator data")
			}
		}
	}
	return nil
}

// VerifyAssertion checks a GetAssertion response: rpIdHash, and the
// signature of the credential key pub over authData || clientDataHash
// (WebAuthn §7.2 steps 15 and 21). It returns the parsed authenticator data.
func VerifyAssertion(pub *COSEKey, resp *GetAssertionResponse, clientDataHash []byte, rpID string) (*AuthData, error) {
	ad, err := ParseAuthData(resp.AuthData)
	if err != nil {
		return nil, err
	}
	if ad.RPIDHash != RPIDHash(rpID) {
		return nil, attErr("rpIdHash is not SHA-256(%q)", rpID)
	}
	signed := append(append([]byte(nil), resp.AuthData...), clientDataHash...)
	if err := pub.Verify(signed, resp.Signature); err != nil {
		return nil, attErr("assertion signature: %v", err)
	}
	return ad, nil
}

// VerifyU2FRegistration checks a U2F_REGISTER answer's signature with its
// attestation certificate.
func VerifyU2FRegistration(r *u2f.RegisterResponse, challenge, application [32]byte) (*x509.Certificate, error) {
	cert, err := x509.ParseCertificate(r.Certificate)
	if err != nil {
		return nil, attErr("u2f certificate: %v", err)
	}
	if err := cert.CheckSignature(x509.ECDSAWithSHA256, r.SignedData(challenge, application), r.Signature); err != nil {
		return nil, attErr("u2f registration signature: %v", err)
	}
	if _, err := ecdh.P256().NewPublicKey(r.PublicKey[:]); err != nil {
		return nil, attErr("u2f public key: %v", err)
	}
	return cert, nil
}

// VerifyU2FAuthentication checks a U2F_AUTHENTICATE answer's signature
// with the user public key from registration.
func VerifyU2FAuthentication(r *u2f.AuthenticateResponse, userKey [65]byte, challenge, application [32]byte) error {
	k := &cose.Key{Kty: cose.KtyEC2, Alg: cose.AlgES256, Crv: cose.CrvP256, X: userKey[1:33], Y: userKey[33:65]}
	if userKey[0] != 4 {
		return attErr("u2f public key is not uncompressed")
	}
	if err := k.Verify(r.SignedData(challenge, application), r.Signature); err != nil {
		return attErr("u2f authentication signature: %v", err)
	}
	return nil
}
