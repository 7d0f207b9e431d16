package ctap

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/tokenlab/tokenlab/ctap/cose"
)

func TestStatusNames(t *testing.T) {
	if ErrPINInvalid.String() != "CTAP2_ERR_PIN_INVALID" || ErrCredentialExcluded.String() != "CTAP2_ERR_CREDENTIAL_EXCLUDED" {
		t.Fatal("names")
	}
	if Status(0xE3).String() != "CTAP2_ERR_EXTENSION(0xE3)" || Status(0xF5).String() != "CTAP2_ERR_VENDOR(0xF5)" {
		t.Fatal("ranges")
	}
	err := fmt.Errorf("wrap: %w", &StatusError{Command: CmdGetAssertion, Status: ErrNoCredentials})
	if !errors.Is(err, ErrNoCredentials) || errors.Is(err, ErrPINInvalid) {
		t.Fatal("errors.Is")
	}
	if StatusOf(err) != ErrNoCredentials || StatusOf(nil) != StatusOK || StatusOf(errors.New("x")) != ErrOther {
		t.Fatal("StatusOf")
	}
	if CmdGetInfo.String() != "authenticatorGetInfo" {
		t.Fatal(CmdGetInfo.String())
	}
}

// TestGetInfoSpecExample decodes the authenticatorGetInfo response example
// of CTAP 2.0 §5.4 (versions U2F_V2 and FIDO_2_0, hmac-secret, an AAGUID,
// options rk/up/plat/clientPin, maxMsgSize 1200, pinProtocols [1]).
func TestGetInfoSpecExample(t *testing.T) {
	ex := "a60182665532465f5632684649444f5f325f3002816b686d61632d7365637265740350f8a011f38c0a4d15800617111f9edc7d04a462726bf5627570f564706c6174f469636c69656e7450696ef4051904b0068101"
	b, _ := hex.DecodeString(ex)
	var gi GetInfoResponse
	if err := Unmarshal(b, &gi); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gi.Versions, []string{"U2F_V2", "FIDO_2_0"}) || gi.MaxMsgSize != 1200 || !gi.Options["rk"] || gi.Options["plat"] ||
		len(gi.AAGUID) != 16 || !reflect.DeepEqual(gi.PinUvAuthProtocols, []uint{1}) || gi.Extensions[0] != "hmac-secret" {
		t.Fatalf("%+v", gi)
	}
	out, err := Marshal(&gi)
	if err != nil || !bytes.Equal(out, b) {
		t.Fatalf("re-encoding differs:\n%x\n%x %v", out, b, err)
	}
}

func TestCanonicalAndStrictDecoding(t *testing.T) {
	req := &ClientPINRequest{PinUvAuthProtocol: 2, SubCommand: PINGetRetries}
	b, _ := Marshal(req)
	if !bytes.Equal(b, []byte{0xa2, 0x01, 0x02, 0x02, 0x01}) {
		t.Fatalf("%x", b)
	}
	var m map[int]int
	for name, in := range map[string]string{
		"duplicate key": "a201010101",
		"indefinite":    "bf0101ff",
		"tag":           "c11a514b67b0",
		"trailing":      "a1010100",
	} {
		raw, _ := hex.DecodeString(in)
		if err := Unmarshal(raw, &m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMessagesRoundTrip(t *testing.T) {
	key := testKey(t)
	msgs := []any{
		&MakeCredentialRequest{ClientDataHash: make([]byte, 32), RP: RPEntity{ID: "example.com", Name: "Ex"}, User: UserEntity{ID: []byte{1}, Name: "a"},
			PubKeyCredParams: []CredentialParam{{Type: CredentialTypePublicKey, Alg: cose.AlgES256}},
			ExcludeList:      []CredentialDescriptor{{Type: CredentialTypePublicKey, ID: []byte{9, 9}}},
			Options:          &Options{RK: Bool(true)}, PinUvAuthParam: []byte{1, 2}, PinUvAuthProtocol: 2},
		&MakeCredentialResponse{Fmt: FmtNone, AuthData: []byte{1}, AttStmt: map[string]any{}},
		&GetAssertionRequest{RPID: "example.com", ClientDataHash: make([]byte, 32), Options: &Options{UP: Bool(false)}},
		&GetAssertionResponse{Credential: &CredentialDescriptor{Type: CredentialTypePublicKey, ID: []byte{1}}, AuthData: []byte{2}, Signature: []byte{3}, NumberOfCredentials: 2},
		&ClientPINRequest{PinUvAuthProtocol: 1, SubCommand: PINGetUVTokenUsingPINWithPermissions, KeyAgreement: key, PINHashEnc: []byte{1}, Permissions: 0x05, RPID: "x"},
		&ClientPINResponse{KeyAgreement: key, PINRetries: new(uint)},
		&CredMgmtRequest{SubCommand: CredMgmtDeleteCredential, SubCommandParams: &CredMgmtParams{CredentialID: &CredentialDescriptor{Type: CredentialTypePublicKey, ID: []byte{1}}}, PinUvAuthProtocol: 2, PinUvAuthParam: []byte{1}},
		&CredMgmtResponse{RP: &RPEntity{ID: "a"}, RPIDHash: []byte{1}, TotalRPs: 3, PublicKey: key},
	}
	for _, m := range msgs {
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		back := reflect.New(reflect.TypeOf(m).Elem()).Interface()
		if err := Unmarshal(b, back); err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		b2, _ := Marshal(back)
		if !bytes.Equal(b, b2) {
			t.Fatalf("%T: round trip differs", m)
		}
	}
}

func testKey(t testing.TB) *COSEKey {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k, err := cose.FromPublic(&priv.PublicKey, cose.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAuthDataRoundTrip(t *testing.T) {
	a := &AuthData{RPIDHash: RPIDHash("example.com"), Flags: FlagUP | FlagUV, SignCount: 7,
		Attested:   &AttestedCredentialData{AAGUID: [16]byte{1}, CredentialID: []byte{1, 2, 3}, PublicKey: *testKey(t)},
		Extensions: map[string]any{"credProtect": uint64(2)}}
	b, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if Flags(b[32]) != FlagUP|FlagUV|FlagAT|FlagED {
		t.Fatalf("flags %v", Flags(b[32]))
	}
	got, err := ParseAuthData(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.SignCount != 7 || !bytes.Equal(got.Attested.CredentialID, a.Attested.CredentialID) || !bytes.Equal(got.Attested.PublicKey.X, a.Attested.PublicKey.X) || got.Extensions["credProtect"] != uint64(2) {
		t.Fatalf("%+v", got)
	}
	for _, n := range []int{0, 36, 37 + 10, len(b) - 1} {
		if _, err := ParseAuthData(b[:n]); err == nil {
			t.Errorf("truncated to %d accepted", n)
		}
	}
	if _, err := ParseAuthData(append(b, 0)); !errors.Is(err, ErrAuthDataTrailing) {
		t.Errorf("trailing: %v", err)
	}
}

// FuzzDecodeResponses requires every response decoder to either fail or
// give a value that re-encodes, never to panic.
func FuzzDecodeResponses(f *testing.F) {
	ex, _ := hex.DecodeString("a60182665532465f5632684649444f5f325f3002816b686d61632d7365637265740350f8a011f38c0a4d15800617111f9edc7d04a462726bf5627570f564706c6174f469636c69656e7450696ef4051904b0068101")
	f.Add(ex)
	for _, m := range []any{&GetAssertionResponse{AuthData: make([]byte, 37), Signature: []byte{1}}, &ClientPINResponse{PinUvAuthToken: []byte{1}}, &CredMgmtResponse{TotalRPs: 1}} {
		b, _ := Marshal(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range []any{new(GetInfoResponse), new(MakeCredentialResponse), new(GetAssertionResponse), new(ClientPINResponse), new(CredMgmtResponse)} {
			if err := Unmarshal(b, v); err == nil {
				if _, err := Marshal(v); err != nil {
					t.Fatalf("%T decoded but does not encode: %v", v, err)
				}
			}
		}
		if a, err := ParseAuthData(b); err == nil {
			if _, err := a.Marshal(); err != nil {
				t.Fatalf("authData decoded but does not encode: %v", err)
			}
		} else if a != nil {
			t.Fatal("authData and error")
		}
	})
}
