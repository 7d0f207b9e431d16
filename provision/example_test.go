package provision_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/tokenlab/tokenlab/provision"
	"github.com/tokenlab/tokenlab/token"
)

// A batch of three key fobs written as a PSKC file under a pre-shared key,
// then read back as the verifier's import does.
func Example() {
	psk := bytes.Repeat([]byte{0x42}, 16)
	b, err := provision.NewBatch(provision.BatchConfig{Model: token.KeyFob, Prefix: "GAHT", Start: 1, Count: 3})
	if err != nil {
		panic(err)
	}
	var file bytes.Buffer
	w, _ := provision.NewWriter(&file, provision.FormatPSKC, provision.WriteOptions{PreSharedKey: psk})
	for {
		rec, err := b.Next()
		if err == io.EOF {
			break
		}
		w.Write(rec)
	}
	w.Close()

	r, _ := provision.OpenReader(&file, provision.ReadOptions{PreSharedKey: psk})
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		fmt.Println(rec.Serial, rec.Spec, len(rec.Seed)*8, "bit seed")
	}
	// Output:
	// GAHT00000018 SHA1/6 digits/30s 160 bit seed
	// GAHT00000026 SHA1/6 digits/30s 160 bit seed
	// GAHT00000034 SHA1/6 digits/30s 160 bit seed
}

// Any of the layouts is detected when reading; a bad record stops the
// reader with an error that names it.
func ExampleOpenReader() {
	in := "GAHT00000018,3132333435363738393031323334353637383930,totp,6,30\n" +
		"GAHT00000018,3132333435363738393031323334353637383930,totp,6,30\n"
	r, _ := provision.OpenReader(strings.NewReader(in), provision.ReadOptions{})
	for {
		rec, err := r.Next()
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Println(rec.Serial, rec.Type)
	}
	// Output:
	// GAHT00000018 totp
	// provision: duplicate serial GAHT00000018 (record 2)
}
