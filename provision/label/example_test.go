package label_test

import (
	"bytes"
	"fmt"

	"github.com/tokenlab/tokenlab/provision/label"
	"github.com/tokenlab/tokenlab/token"
)

// A sheet with a hardware token's label and a virtual token's, whose QR
// code enrols it in an authenticator app.
func ExampleNewPDF() {
	var pdf bytes.Buffer
	s := label.NewPDF(&pdf)
	s.Add(label.Label{Serial: "GAHT00000018"})
	seed := token.Seed(bytes.Repeat([]byte{7}, 20))
	s.Add(label.Label{Serial: "GAHT00000026", URI: token.Key{Type: token.TOTP, Issuer: "tokenlab", Account: "GAHT00000026", Seed: seed, Spec: token.DefaultSpec}.URI()})
	if err := s.Close(); err != nil {
		panic(err)
	}
	fmt.Println(string(pdf.Bytes()[:5]))
	// Output: %PDF-
}
