package cose

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"
)

func TestES256(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k, err := FromPublic(&priv.PublicKey, AlgES256)
	if err != nil || k.Kty != KtyEC2 || k.Crv != CrvP256 || len(k.X) != 32 {
		t.Fatal(k, err)
	}
	h := sha256.Sum256([]byte("m"))
	sig, _ := ecdsa.SignASN1(rand.Reader, priv, h[:])
	if err := k.Verify([]byte("m"), sig); err != nil {
		t.Fatal(err)
	}
	if err := k.Verify([]byte("n"), sig); !errors.Is(err, ErrSignature) {
		t.Fatal(err)
	}
	bad := *k
	bad.Y = append([]byte(nil), k.Y...)
	bad.Y[0] ^= 1
	if _, err := bad.Public(); !errors.Is(err, ErrInvalidKey) {
		t.Fatal("off-curve point accepted")
	}
}

func TestEdDSA(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, err := FromPublic(pub, AlgEdDSA)
	if err != nil || k.Kty != KtyOKP || k.Crv != CrvEd25519 {
		t.Fatal(k, err)
	}
	if err := k.Verify([]byte("m"), ed25519.Sign(priv, []byte("m"))); err != nil {
		t.Fatal(err)
	}
	if AlgECDHES256.String() != "ECDH-ES+HKDF-256" {
		t.Fatal()
	}
}
