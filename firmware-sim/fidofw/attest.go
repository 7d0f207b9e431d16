package fidofw

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"
)

// oidFIDOGenCeAAGUID is id-fido-gen-ce-aaguid, the certificate extension
// that carries the authenticator's AAGUID (WebAuthn §8.2.1).
var oidFIDOGenCeAAGUID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 45724, 1, 1, 4}

// Manufacturer is the tokenlab manufacturer certificate authority that signs
// each key's attestation (batch) certificate when the key is made.
type Manufacturer struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NewManufacturer makes a self-signed manufacturer CA from rng.
func NewManufacturer(rng io.Reader, now time.Time) (*Manufacturer, error) {
	key, err := genP256(rng)
	if err != nil {
		return nil, err
	}
	serial, err := randSerial(rng)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{Country: []string{"US"}, Organization: []string{"tokenlab"},
			CommonName: "tokenlab FIDO Root CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(30, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rng, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("fidofw: manufacturer CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Manufacturer{Cert: cert, Key: key}, nil
}

// batchCertificate issues the attestation certificate of one key with the
// fields WebAuthn §8.2.1 requires of packed attestation certificates:
// version 3; subject C, O, OU "Authenticator Attestation" and CN; the
// id-fido-gen-ce-aaguid extension (not critical); basicConstraints CA=false.
func (m *Manufacturer) batchCertificate(rng io.Reader, now time.Time, aaguid []byte, pub *ecdsa.PublicKey) ([]byte, error) {
	ext, err := asn1.Marshal(aaguid) // an OCTET STRING holding the 16 bytes
	if err != nil {
		return nil, err
	}
	serial, err := randSerial(rng)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{Country: []string{"US"}, Organization: []string{"tokenlab"},
			OrganizationalUnit: []string{"Authenticator Attestation"},
			CommonName:         "tokenlab Simulated Security Key"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  false,
		ExtraExtensions:       []pkix.Extension{{Id: oidFIDOGenCeAAGUID, Value: ext}},
	}
	return x509.CreateCertificate(rng, tmpl, m.Cert, pub, m.Key)
}

func genP256(rng io.Reader) (*ecdsa.PrivateKey, error) {
	dk, err := ecdh.P256().GenerateKey(rng)
	if err != nil {
		return nil, err
	}
	return ecdsaFromRaw(dk.Bytes())
}

func randSerial(rng io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(rng, b); err != nil {
		return nil, err
	}
	b[0] &= 0x7f
	b[0] |= 0x01
	return new(big.Int).SetBytes(b), nil
}

// batchKey returns the attestation private key kept in flash.
func (a *Authenticator) batchKey() (*ecdsa.PrivateKey, error) {
	if a.attKey != nil {
		return a.attKey, nil
	}
	dk, err := ecdh.P256().NewPrivateKey(a.st.BatchKey)
	if err != nil {
		return nil, errors.New("fidofw: bad attestation key in flash")
	}
	k, err := ecdsaFromRaw(dk.Bytes())
	if err != nil {
		return nil, err
	}
	a.attKey = k
	return k, nil
}

// AttestationCertificate returns the key's attestation (batch) certificate.
func (a *Authenticator) AttestationCertificate() *x509.Certificate {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, _ := x509.ParseCertificate(a.st.BatchCert)
	return c
}

// RootCertificate returns the manufacturer CA certificate the attestation
// certificate chains to: the trust anchor a relying party would configure.
func (a *Authenticator) RootCertificate() *x509.Certificate {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, _ := x509.ParseCertificate(a.st.CACert)
	return c
}
