package ctap_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/cose"
	"github.com/tokenlab/tokenlab/internal/testtool"
)

// python-fido2 re-encodes our CBOR in its canonical form and parses our
// authenticator data; the answers must match ours.
const pyCBOR = `
import sys, json
from fido2 import cbor
from fido2.ctap2 import AuthenticatorData
a = json.loads(sys.stdin.read())
out = {"reencoded": [cbor.encode(cbor.decode(bytes.fromhex(m))).hex() for m in a["msgs"]]}
ad = AuthenticatorData(bytes.fromhex(a["authData"]))
out["counter"] = ad.counter
out["flags"] = ad.flags
out["credId"] = ad.credential_data.credential_id.hex()
out["x"] = ad.credential_data.public_key[-2].hex()
out["ext"] = ad.extensions
print(json.dumps(out))
`

func TestCBORAgainstPythonFido2(t *testing.T) {
	py := testtool.NeedPython(t, "fido2.cbor", "python3-fido2")
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key, _ := cose.FromPublic(&priv.PublicKey, cose.AlgES256)
	msgs := []any{
		&ctap.MakeCredentialRequest{ClientDataHash: make([]byte, 32), RP: ctap.RPEntity{ID: "example.com", Name: "Example"},
			User:             ctap.UserEntity{ID: []byte{1, 2}, Name: "alice", DisplayName: "Alice"},
			PubKeyCredParams: []ctap.CredentialParam{{Type: "public-key", Alg: cose.AlgES256}, {Type: "public-key", Alg: cose.AlgEdDSA}},
			Options:          &ctap.Options{RK: ctap.Bool(true), UV: ctap.Bool(false)}, PinUvAuthParam: make([]byte, 32), PinUvAuthProtocol: 2},
		&ctap.ClientPINRequest{PinUvAuthProtocol: 2, SubCommand: ctap.PINGetUVTokenUsingPINWithPermissions, KeyAgreement: key, PINHashEnc: make([]byte, 32), Permissions: 0x03, RPID: "example.com"},
		&ctap.GetInfoResponse{Versions: []string{"FIDO_2_1"}, AAGUID: make([]byte, 16), Options: map[string]bool{"rk": true, "up": true, "clientPin": false, "credMgmt": true}, MaxMsgSize: 7609},
	}
	var hexes []string
	for _, m := range msgs {
		b, err := ctap.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		hexes = append(hexes, hex.EncodeToString(b))
	}
	ad := &ctap.AuthData{RPIDHash: ctap.RPIDHash("example.com"), Flags: ctap.FlagUP | ctap.FlagUV, SignCount: 0x01020304,
		Attested:   &ctap.AttestedCredentialData{AAGUID: [16]byte{1}, CredentialID: []byte{0xc0, 0xff, 0xee}, PublicKey: *key},
		Extensions: map[string]any{"credProtect": uint64(2)}}
	adb, err := ad.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(map[string]any{"msgs": hexes, "authData": hex.EncodeToString(adb)})
	cmd := exec.Command(py, "-c", pyCBOR)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python-fido2: %v\n%s", err, out)
	}
	var got struct {
		Reencoded []string       `json:"reencoded"`
		Counter   uint32         `json:"counter"`
		Flags     byte           `json:"flags"`
		CredID    string         `json:"credId"`
		X         string         `json:"x"`
		Ext       map[string]int `json:"ext"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for i, h := range hexes {
		if got.Reencoded[i] != h {
			t.Errorf("message %d (%T) is not canonical:\n ours   %s\n python %s", i, msgs[i], h, got.Reencoded[i])
		}
	}
	if got.Counter != 0x01020304 || got.Flags != byte(ctap.FlagUP|ctap.FlagUV|ctap.FlagAT|ctap.FlagED) ||
		got.CredID != "c0ffee" || got.X != hex.EncodeToString(key.X) || got.Ext["credProtect"] != 2 {
		t.Errorf("python-fido2 parsed our authData as %+v", got)
	}
}
