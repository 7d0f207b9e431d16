package ctap_test

import (
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/cose"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/emulator"
)

// Register a credential on a simulated key in-process and sign in with it.
func Example() {
	key, _ := emulator.NewSecurityKey(emulator.SecurityKeyOptions{})
	defer key.Close()
	ctx := context.Background()
	dev := ctaphid.NewDevice(key.Open()) // any io.ReadWriter of 64-byte reports
	defer dev.Close()
	ch, err := dev.Open(ctx)
	if err != nil {
		panic(err)
	}
	c := ctap.NewClient(ch)

	cdh := sha256.Sum256([]byte(`{"type":"webauthn.create","challenge":"…"}`))
	mc, err := c.MakeCredential(ctx, &ctap.MakeCredentialRequest{
		ClientDataHash:   cdh[:],
		RP:               ctap.RPEntity{ID: "example.com"},
		User:             ctap.UserEntity{ID: []byte("alice"), Name: "alice"},
		PubKeyCredParams: []ctap.CredentialParam{{Type: ctap.CredentialTypePublicKey, Alg: cose.AlgES256}},
	})
	if err != nil {
		panic(err)
	}
	att, err := ctap.VerifyAttestation(mc, cdh[:], "example.com")
	if err != nil {
		panic(err)
	}
	fmt.Println("attestation:", att.Fmt, att.Type)

	cred := att.AuthData.Attested
	cdh = sha256.Sum256([]byte(`{"type":"webauthn.get","challenge":"…"}`))
	ga, err := c.GetAssertion(ctx, &ctap.GetAssertionRequest{RPID: "example.com", ClientDataHash: cdh[:],
		AllowList: []ctap.CredentialDescriptor{{Type: ctap.CredentialTypePublicKey, ID: cred.CredentialID}}})
	if err != nil {
		panic(err)
	}
	ad, err := ctap.VerifyAssertion(&cred.PublicKey, ga, cdh[:], "example.com")
	if err != nil {
		panic(err)
	}
	fmt.Println("assertion verified, flags", ad.Flags)
	// Output:
	// attestation: packed basic
	// assertion verified, flags UP
}

func ExampleStatusError() {
	err := error(&ctap.StatusError{Command: ctap.CmdGetAssertion, Status: ctap.ErrNoCredentials})
	fmt.Println(err)
	fmt.Println(ctap.StatusOf(err) == ctap.ErrNoCredentials)
	// Output:
	// ctap: authenticatorGetAssertion: CTAP2_ERR_NO_CREDENTIALS
	// true
}
