package token_test

import (
	"fmt"
	"time"

	"github.com/tokenlab/tokenlab/token"
)

func Example() {
	seed, _ := token.ParseBase32Seed("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
	spec := token.DefaultSpec
	fmt.Println(spec.TOTP(seed, time.Unix(59, 0)))
	fmt.Println(seed) // a seed never prints itself
	key := token.Key{Type: token.TOTP, Issuer: "tokenlab", Account: "alice", Seed: seed, Spec: spec}
	fmt.Println(key.URI())
	// Output:
	// 287082
	// Seed(20 bytes, redacted)
	// otpauth://totp/tokenlab:alice?algorithm=SHA1&digits=6&issuer=tokenlab&period=30&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ
}

func ExampleAllocator() {
	a, _ := token.NewAllocator("GAHT", 1)
	for range 3 {
		s, _ := a.Next()
		fmt.Println(s)
	}
	next, _ := token.AllocatorAfter("GAHT00000034")
	s, _ := next.Next()
	fmt.Println(s)
	// Output:
	// GAHT00000018
	// GAHT00000026
	// GAHT00000034
	// GAHT00000042
}

func ExampleParseURI() {
	k, err := token.ParseURI("otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=7")
	fmt.Println(err)
	k, _ = token.ParseURI("otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=8")
	fmt.Println(k.Issuer, k.Account, k.Spec)
	// Output:
	// token: invalid otpauth URI: invalid spec: 7 digits (want 6 or 8)
	// ACME alice SHA1/8 digits/30s
}
