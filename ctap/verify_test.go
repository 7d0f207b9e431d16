package ctap

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/ctap/cose"
	"github.com/tokenlab/tokenlab/ctap/u2f"
)

type attFixture struct {
	credKey  *ecdsa.PrivateKey
	attKey   *ecdsa.PrivateKey
	aaguid   [16]byte
	credID   []byte
	authData []byte
	cdh      []byte
}

func newAttFixture(t *testing.T) *attFixture {
	t.Helper()
	f := &attFixture{credID: []byte("credential-id"), cdh: make([]byte, 32), aaguid: [16]byte{0xaa, 1, 2, 3}}
	f.credKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.attKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rand.Read(f.cdh)
	k, _ := cose.FromPublic(&f.credKey.PublicKey, cose.AlgES256)
	ad := &AuthData{RPIDHash: RPIDHash("example.com"), Flags: FlagUP, SignCount: 1,
		Attested: &AttestedCredentialData{AAGUID: f.aaguid, CredentialID: f.credID, PublicKey: *k}}
	var err error
	if f.authData, err = ad.Marshal(); err != nil {
		t.Fatal(err)
	}
	return f
}

func sign(k *ecdsa.PrivateKey, msg []byte) []byte {
	h := sha256.Sum256(msg)
	s, _ := ecdsa.SignASN1(rand.Reader, k, h[:])
	return s
}

func (f *attFixture) cert(t *testing.T, ou string, ca bool, aaguid []byte) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{Country: []string{"US"}, Organization: []string{"tokenlab"}, OrganizationalUnit: []string{ou}, CommonName: "test attestation"},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		BasicConstraintsValid: true, IsCA: ca,
	}
	if aaguid != nil {
		v, _ := asn1.Marshal(aaguid)
		tmpl.ExtraExtensions = []pkix.Extension{{Id: idFidoGenCeAAGUID, Value: v}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &f.attKey.PublicKey, f.attKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func (f *attFixture) signed() []byte { return append(append([]byte(nil), f.authData...), f.cdh...) }

func TestVerifyAttestation(t *testing.T) {
	f := newAttFixture(t)
	good := f.cert(t, "Authenticator Attestation", false, f.aaguid[:])
	ck, _ := cose.FromPublic(&f.credKey.PublicKey, cose.AlgES256)
	point, _ := ck.Uncompressed()
	u2fMsg := append([]byte{0}, func() []byte { h := RPIDHash("example.com"); return h[:] }()...)
	u2fMsg = append(append(append(u2fMsg, f.cdh...), f.credID...), point...)
	tests := []struct {
		name    string
		fmt     string
		stmt    map[string]any
		rpID    string
		wantErr bool
		typ     string
	}{
		{"packed basic", FmtPacked, map[string]any{"alg": int64(-7), "sig": sign(f.attKey, f.signed()), "x5c": []any{good}}, "example.com", false, "basic"},
		{"packed self", FmtPacked, map[string]any{"alg": int64(-7), "sig": sign(f.credKey, f.signed())}, "example.com", false, "self"},
		{"fido-u2f", FmtFIDOU2F, map[string]any{"sig": sign(f.attKey, u2fMsg), "x5c": []any{good}}, "example.com", false, "basic"},
		{"none", FmtNone, map[string]any{}, "example.com", false, "none"},
		{"packed signed by another key", FmtPacked, map[string]any{"alg": int64(-7), "sig": sign(f.credKey, f.signed()), "x5c": []any{good}}, "example.com", true, ""},
		{"packed wrong rp", FmtPacked, map[string]any{"alg": int64(-7), "sig": sign(f.attKey, f.signed()), "x5c": []any{good}}, "other.com", true, ""},
		{"packed cert without OU", FmtPacked, map[string]any{"alg": int64(-7), "sig": sign(f.attKey, f.signed()), "x5c": []any{f.cert(t, "Other", false, nil)}}, "example.com", true, ""},
		{"packed CA cert", FmtPacked, map[string]any{"alg": int64(-7), "sig": sign(f.attKey, f.signed()), "x5c": []any{f.cert(t, "Authenticator Attestation", true, nil)}}, "example.com", true, ""},
		{"packed AAGUID mismatch", FmtPacked, map[string]any{"alg": int64(-7), "sig": sign(f.attKey, f.signed()), "x5c": []any{f.cert(t, "Authenticator Attestation", false, make([]byte, 16))}}, "example.com", true, ""},
		{"packed self wrong alg", FmtPacked, map[string]any{"alg": int64(-8), "sig": sign(f.credKey, f.signed())}, "example.com", true, ""},
		{"packed without sig", FmtPacked, map[string]any{"alg": int64(-7)}, "example.com", true, ""},
		{"fido-u2f without x5c", FmtFIDOU2F, map[string]any{"sig": sign(f.attKey, u2fMsg)}, "example.com", true, ""},
		{"fido-u2f over packed data", FmtFIDOU2F, map[string]any{"sig": sign(f.attKey, f.signed()), "x5c": []any{good}}, "example.com", true, ""},
		{"none with a statement", FmtNone, map[string]any{"sig": []byte{1}}, "example.com", true, ""},
		{"unknown format", "tpm", map[string]any{}, "example.com", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Through CBOR, as a response would arrive.
			b, err := Marshal(&MakeCredentialResponse{Fmt: tt.fmt, AuthData: f.authData, AttStmt: tt.stmt})
			if err != nil {
				t.Fatal(err)
			}
			var resp MakeCredentialResponse
			if err := Unmarshal(b, &resp); err != nil {
				t.Fatal(err)
			}
			att, err := VerifyAttestation(&resp, f.cdh, tt.rpID)
			if tt.wantErr {
				if err == nil {
					t.Fatal("verified")
				}
				if att != nil {
					t.Fatal("attestation with error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if att.Type != tt.typ {
				t.Fatalf("type %q, want %q", att.Type, tt.typ)
			}
		})
	}
}

func TestVerifyAssertionAndU2F(t *testing.T) {
	f := newAttFixture(t)
	k, _ := cose.FromPublic(&f.credKey.PublicKey, cose.AlgES256)
	ad, _ := (&AuthData{RPIDHash: RPIDHash("example.com"), Flags: FlagUP | FlagUV, SignCount: 9}).Marshal()
	resp := &GetAssertionResponse{AuthData: ad, Signature: sign(f.credKey, append(append([]byte(nil), ad...), f.cdh...))}
	got, err := VerifyAssertion(k, resp, f.cdh, "example.com")
	if err != nil || got.SignCount != 9 {
		t.Fatal(got, err)
	}
	if _, err := VerifyAssertion(k, resp, make([]byte, 32), "example.com"); !errors.Is(err, ErrAttestation) {
		t.Fatalf("other clientDataHash: %v", err)
	}
	if _, err := VerifyAssertion(k, resp, f.cdh, "example.org"); err == nil {
		t.Fatal("other RP accepted")
	}

	var chal, app [32]byte
	chal[0], app[0] = 1, 2
	point, _ := k.Uncompressed()
	reg := &u2f.RegisterResponse{KeyHandle: []byte("kh"), Certificate: f.cert(t, "x", false, nil)}
	copy(reg.PublicKey[:], point)
	reg.Signature = sign(f.attKey, reg.SignedData(chal, app))
	if _, err := VerifyU2FRegistration(reg, chal, app); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyU2FRegistration(reg, app, chal); err == nil {
		t.Fatal("swapped challenge accepted")
	}
	auth := &u2f.AuthenticateResponse{UserPresence: 1, Counter: 3}
	auth.Signature = sign(f.credKey, auth.SignedData(chal, app))
	if err := VerifyU2FAuthentication(auth, reg.PublicKey, chal, app); err != nil {
		t.Fatal(err)
	}
	auth.Counter = 4
	if err := VerifyU2FAuthentication(auth, reg.PublicKey, chal, app); err == nil {
		t.Fatal("altered counter accepted")
	}
}
