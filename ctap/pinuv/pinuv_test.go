package pinuv

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func TestBothSidesAgree(t *testing.T) {
	for _, p := range []Protocol{Protocol1{}, Protocol2{}} {
		authPriv, _ := ecdh.P256().GenerateKey(rand.Reader)
		authKey, _ := KeyAgreementKey(authPriv.PublicKey())
		platKey, hostSecret, err := p.Encapsulate(rand.Reader, authKey)
		if err != nil {
			t.Fatal(err)
		}
		devSecret, err := Decapsulate(p, authPriv, platKey)
		if err != nil || !bytes.Equal(hostSecret, devSecret) {
			t.Fatalf("v%d: secrets differ (%v)", p.Version(), err)
		}
		pin, _ := PadPIN("1234")
		ct, err := p.Encrypt(rand.Reader, hostSecret, pin)
		if err != nil {
			t.Fatal(err)
		}
		wantLen := 64
		if p.Version() == 2 {
			wantLen += 16
		}
		if len(ct) != wantLen {
			t.Fatalf("v%d: ciphertext %d bytes", p.Version(), len(ct))
		}
		pt, err := p.Decrypt(devSecret, ct)
		if err != nil || !bytes.Equal(pt, pin) {
			t.Fatalf("v%d: decrypt: %v", p.Version(), err)
		}
		if s, _ := UnpadPIN(pt); s != "1234" {
			t.Fatalf("unpad %q", s)
		}
		mac := p.Authenticate(hostSecret, ct)
		if !p.Verify(devSecret, ct, mac) || p.Verify(devSecret, ct[1:], mac) {
			t.Fatalf("v%d: verify", p.Version())
		}
		if len(mac) != map[int]int{1: 16, 2: 32}[p.Version()] {
			t.Fatalf("v%d: mac %d bytes", p.Version(), len(mac))
		}
	}
}

// TestProtocol2KDF checks the HKDF derivation against a direct RFC 5869
// computation with the spec's salt (32 zero bytes) and infos.
func TestProtocol2KDF(t *testing.T) {
	z, _ := hex.DecodeString("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20")
	got := Protocol2{}.KDF(z)
	prk := hmacSum(make([]byte, 32), z)
	hm := hmacSum(prk, append([]byte(InfoHMACKey), 1))
	ak := hmacSum(prk, append([]byte(InfoAESKey), 1))
	if !bytes.Equal(got[:32], hm) || !bytes.Equal(got[32:], ak) {
		t.Fatal("KDF differs from RFC 5869")
	}
	p1 := Protocol1{}.KDF(z)
	h := sha256.Sum256(z)
	if !bytes.Equal(p1, h[:]) {
		t.Fatal("protocol 1 KDF")
	}
}

func hmacSum(k, m []byte) []byte {
	h := hmac.New(sha256.New, k)
	h.Write(m)
	return h.Sum(nil)
}

func TestErrors(t *testing.T) {
	if _, err := PadPIN("123"); err == nil {
		t.Fatal("short PIN")
	}
	if _, err := (Protocol1{}).Decrypt(make([]byte, 32), make([]byte, 15)); err == nil {
		t.Fatal("odd ciphertext")
	}
	if _, err := (Protocol2{}).Decrypt(make([]byte, 64), make([]byte, 8)); err == nil {
		t.Fatal("short ciphertext")
	}
	if _, err := (Protocol2{}).Decrypt(make([]byte, 32), make([]byte, 32)); err == nil {
		t.Fatal("short secret")
	}
	if ByVersion(3) != nil || ByVersion(2).Version() != 2 {
		t.Fatal("ByVersion")
	}
	if (PermMakeCredential | PermCredentialManagement).String() != "mc|cm" {
		t.Fatal((PermMakeCredential | PermCredentialManagement).String())
	}
}
