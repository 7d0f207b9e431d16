package token_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/token"
)

const rfcB32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" // "12345678901234567890"

func TestParseURI(t *testing.T) {
	k, err := token.ParseURI("otpauth://totp/ACME%20Co:alice@example.com?secret=" + rfcB32 + "&issuer=ACME%20Co&algorithm=SHA256&digits=8&period=60")
	if err != nil {
		t.Fatal(err)
	}
	want := token.Key{Type: token.TOTP, Issuer: "ACME Co", Account: "alice@example.com", Seed: token.Seed("12345678901234567890"),
		Spec: token.Spec{Algorithm: token.SHA256, Digits: 8, Period: 60 * time.Second}}
	if !reflect.DeepEqual(k, want) {
		t.Errorf("ParseURI = %+v, want %+v", k, want)
	}
	// Absent parameters take the Key URI format's defaults.
	k, err = token.ParseURI("otpauth://totp/alice?secret=" + rfcB32)
	if err != nil || k.Spec != token.DefaultSpec || k.Issuer != "" || k.Account != "alice" {
		t.Errorf("defaults: %+v, %v", k, err)
	}
	k, err = token.ParseURI("otpauth://hotp/alice?secret=" + rfcB32 + "&counter=42")
	if err != nil || k.Type != token.HOTP || k.Counter != 42 {
		t.Errorf("hotp: %+v, %v", k, err)
	}
}

func TestParseURIRefuses(t *testing.T) {
	base := "otpauth://totp/ACME:alice?secret=" + rfcB32
	for _, c := range []struct{ name, uri string }{
		{"empty", ""},
		{"http scheme", "https://totp/ACME:alice?secret=" + rfcB32},
		{"unknown type", "otpauth://motp/ACME:alice?secret=" + rfcB32},
		{"no secret", "otpauth://totp/ACME:alice?issuer=ACME"},
		{"empty secret", "otpauth://totp/ACME:alice?secret="},
		{"secret under 128 bits", "otpauth://totp/ACME:alice?secret=JBSWY3DPEHPK3PXP"},
		{"secret not base32", "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJ1GEZDGNBVGY3TQOJQ"},
		{"no account", "otpauth://totp/?secret=" + rfcB32},
		{"unknown algorithm", base + "&algorithm=MD5"},
		{"digits 7", base + "&digits=7"},
		{"digits not a number", base + "&digits=six"},
		{"period 0", base + "&period=0"},
		{"period 45", base + "&period=45"},
		{"period negative", base + "&period=-30"},
		{"period huge", base + "&period=99999999999999999999"},
		{"issuer contradicts label", base + "&issuer=Evil"},
		{"secret given twice", base + "&secret=" + rfcB32},
		{"hotp without counter", "otpauth://hotp/ACME:alice?secret=" + rfcB32},
		{"hotp counter not a number", "otpauth://hotp/ACME:alice?secret=" + rfcB32 + "&counter=x"},
		{"over 4096 bytes", base + "&x=" + strings.Repeat("a", token.MaxURILen)},
		{"bad query escape", base + "&issuer=%zz"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, err := token.ParseURI(c.uri)
			if !errors.Is(err, token.ErrURI) {
				t.Fatalf("ParseURI(%q) = %v, want ErrURI", c.uri, err)
			}
			if !reflect.ValueOf(k).IsZero() {
				t.Errorf("error with a non-zero key %+v", k)
			}
			if strings.Contains(err.Error(), rfcB32) {
				t.Errorf("error %q carries the secret", err)
			}
		})
	}
}

func TestKeyURIRoundTrip(t *testing.T) {
	seed := token.Seed("12345678901234567890")
	for _, k := range []token.Key{
		{Type: token.TOTP, Issuer: "tokenlab", Account: "GAHT12345674", Seed: seed, Spec: token.DefaultSpec},
		{Type: token.TOTP, Account: "alice@123456789012", Seed: seed, Spec: token.Spec{Algorithm: token.SHA512, Digits: 8, Period: 60 * time.Second}},
		{Type: token.HOTP, Issuer: "ACME Co", Account: "bob", Seed: seed, Spec: token.DefaultSpec, Counter: 7},
	} {
		got, err := token.ParseURI(k.URI())
		if err != nil {
			t.Fatalf("ParseURI(%q): %v", k.URI(), err)
		}
		if !reflect.DeepEqual(got, k) {
			t.Errorf("round trip of %q: %+v, want %+v", k.URI(), got, k)
		}
	}
}

// FuzzParseURI: no panic; an error comes with a zero Key; an accepted key
// is valid and survives formatting and parsing again.
func FuzzParseURI(f *testing.F) {
	f.Add("otpauth://totp/ACME%20Co:alice@example.com?secret=" + rfcB32 + "&issuer=ACME%20Co&algorithm=SHA256&digits=8&period=60")
	f.Add("otpauth://hotp/alice?secret=" + rfcB32 + "&counter=42")
	f.Add("otpauth://totp/alice?secret=JBSWY3DPEHPK3PXP")
	f.Add("otpauth://totp/Amazon%20Web%20Services:alice@123456789012?secret=" + rfcB32 + "&issuer=Amazon%20Web%20Services")
	f.Add("otpauth://totp/a?secret=" + rfcB32 + "&period=0&digits=7")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := token.ParseURI(s)
		if err != nil {
			if !reflect.ValueOf(k).IsZero() {
				t.Fatalf("error %v with a non-zero key", err)
			}
			if !errors.Is(err, token.ErrURI) {
				t.Fatalf("error %v does not match ErrURI", err)
			}
			return
		}
		if err := k.Spec.Validate(); err != nil {
			t.Fatalf("accepted an invalid spec: %v", err)
		}
		if len(k.Seed) < token.MinSeedBytes || k.Account == "" {
			t.Fatalf("accepted a key without a 128-bit seed or an account: %+v", k)
		}
		k2, err := token.ParseURI(k.URI())
		if err != nil {
			t.Fatalf("re-parsing %q: %v", k.URI(), err)
		}
		if !bytes.Equal(k2.Seed, k.Seed) || k2.Spec != k.Spec || k2.Type != k.Type || k2.Counter != k.Counter {
			t.Fatalf("round trip changed the key: %+v -> %+v", k, k2)
		}
	})
}
