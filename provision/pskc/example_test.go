package pskc_test

import (
	"bytes"
	"fmt"
	"io"

	"github.com/tokenlab/tokenlab/provision/pskc"
)

// Write a document protected by a passphrase (RFC 6030 §6.2) and read it.
func Example() {
	var doc bytes.Buffer
	w, _ := pskc.NewWriter(&doc, pskc.WriterOptions{Passphrase: []byte("qwerty"), Iterations: 1000})
	w.Write(&pskc.Key{
		SerialNo: "GAHT00000018", Algorithm: pskc.TOTP, Suite: "HMAC-SHA1",
		ResponseLength: 6, TimeInterval: pskc.Uint64(30), Secret: []byte("12345678901234567890"),
	})
	w.Close()

	r, _ := pskc.NewReader(&doc, pskc.ReaderOptions{Passphrase: []byte("qwerty")})
	for {
		k, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(k.SerialNo, k.ID, k.ResponseLength, *k.TimeInterval, string(k.Secret))
	}
	// Output: GAHT00000018 GAHT00000018 6 30 12345678901234567890
}

// A wrong passphrase fails the MAC check of the first key package.
func ExampleReader_Next() {
	var doc bytes.Buffer
	w, _ := pskc.NewWriter(&doc, pskc.WriterOptions{PreSharedKey: bytes.Repeat([]byte{1}, 16)})
	w.Write(&pskc.Key{SerialNo: "GAHT00000018", Algorithm: pskc.TOTP, Secret: []byte("12345678901234567890")})
	w.Close()

	r, _ := pskc.NewReader(&doc, pskc.ReaderOptions{PreSharedKey: bytes.Repeat([]byte{2}, 16)})
	_, err := r.Next()
	fmt.Println(err != nil)
	// Output: true
}
