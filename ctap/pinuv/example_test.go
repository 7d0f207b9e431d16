package pinuv_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"fmt"

	"github.com/tokenlab/tokenlab/ctap/pinuv"
)

// The platform encrypts a new PIN for the authenticator, which decrypts it
// and checks the request's pinUvAuthParam.
func Example() {
	p := pinuv.Protocol2{}
	authPriv, _ := ecdh.P256().GenerateKey(rand.Reader) // the key's key agreement key
	authKey, _ := pinuv.KeyAgreementKey(authPriv.PublicKey())

	// Platform.
	platformKey, secret, _ := p.Encapsulate(rand.Reader, authKey)
	padded, _ := pinuv.PadPIN("2468")
	newPinEnc, _ := p.Encrypt(rand.Reader, secret, padded)
	param := p.Authenticate(secret, newPinEnc)

	// Authenticator.
	shared, _ := pinuv.Decapsulate(p, authPriv, platformKey)
	plain, _ := p.Decrypt(shared, newPinEnc)
	pin, _ := pinuv.UnpadPIN(plain)
	fmt.Println(p.Verify(shared, newPinEnc, param), pin, bytes.Equal(secret, shared))
	// Output: true 2468 true
}
