package cose_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"github.com/tokenlab/tokenlab/ctap/cose"
)

func ExampleKey_Verify() {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k, _ := cose.FromPublic(&priv.PublicKey, cose.AlgES256)
	h := sha256.Sum256([]byte("authData || clientDataHash"))
	sig, _ := ecdsa.SignASN1(rand.Reader, priv, h[:])
	fmt.Println(k.Alg, k.Verify([]byte("authData || clientDataHash"), sig))
	// Output: ES256 <nil>
}
