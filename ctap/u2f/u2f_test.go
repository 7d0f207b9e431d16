package u2f

import (
	"bytes"
	"errors"
	"testing"
)

func TestAPDURoundTrip(t *testing.T) {
	c := AuthenticateRequest(AuthCheckOnly, [32]byte{1}, [32]byte{2}, []byte{7, 7, 7})
	b := c.Marshal()
	if b[0] != 0 || b[1] != InsAuthenticate || b[2] != AuthCheckOnly || b[4] != 0 || int(b[5])<<8|int(b[6]) != 68 {
		t.Fatalf("%x", b[:7])
	}
	got, err := ParseCommand(b)
	if err != nil || got.INS != InsAuthenticate || !bytes.Equal(got.Data, c.Data) {
		t.Fatal(got, err)
	}
	v, err := ParseCommand((&Command{INS: InsVersion}).Marshal())
	if err != nil || v.INS != InsVersion || len(v.Data) != 0 {
		t.Fatal(v, err)
	}
	if _, err := ParseCommand([]byte{0, 1, 3, 0, 0, 0, 9, 1}); !errors.Is(err, SWWrongLength) {
		t.Fatal(err)
	}
}

func TestRegisterResponse(t *testing.T) {
	cert := append([]byte{0x30, 0x82, 0x00, 0x03}, 1, 2, 3)
	r := &RegisterResponse{PublicKey: [65]byte{4}, KeyHandle: []byte{5, 6}, Certificate: cert, Signature: []byte{0x30, 1, 1}}
	got, err := ParseRegisterResponse(r.Marshal())
	if err != nil || !bytes.Equal(got.Certificate, cert) || !bytes.Equal(got.Signature, r.Signature) || !bytes.Equal(got.KeyHandle, r.KeyHandle) {
		t.Fatal(got, err)
	}
	data, sw, _ := SplitResponse(Response([]byte{1}, SWConditionsNotSatisfied))
	if sw != SWConditionsNotSatisfied || !bytes.Equal(data, []byte{1}) || sw.String() != "SW_CONDITIONS_NOT_SATISFIED" {
		t.Fatal(sw)
	}
	a := &AuthenticateResponse{UserPresence: 1, Counter: 9, Signature: []byte{1}}
	ga, err := ParseAuthenticateResponse(a.Marshal())
	if err != nil || ga.Counter != 9 || ga.UserPresence != 1 {
		t.Fatal(ga, err)
	}
}

func FuzzParseRegisterResponse(f *testing.F) {
	r := &RegisterResponse{PublicKey: [65]byte{4}, KeyHandle: []byte{5}, Certificate: []byte{0x30, 1, 0}, Signature: []byte{1}}
	f.Add(r.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := ParseRegisterResponse(b); err != nil && r != nil {
			t.Fatal("value and error")
		}
		ParseCommand(b)
	})
}
