package pinuv_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/tokenlab/tokenlab/ctap/pinuv"
	"github.com/tokenlab/tokenlab/internal/testtool"
)

// python-fido2's PIN/UV protocols, given Z, a plaintext, a protocol 2
// ciphertext made by us and a message; they answer with their KDF output,
// protocol 1 ciphertext (zero IV, deterministic), protocol 2 decryption of
// ours and both HMACs, all hex.
const pyPinUV = `
import sys, json
from fido2.ctap2.pin import PinProtocolV1, PinProtocolV2
a = json.loads(sys.stdin.read())
z, pt, ct2, msg = (bytes.fromhex(a[k]) for k in ("z", "pt", "ct2", "msg"))
p1, p2 = PinProtocolV1.__new__(PinProtocolV1), PinProtocolV2.__new__(PinProtocolV2)
k1, k2 = p1.kdf(z), p2.kdf(z)
print(json.dumps({
  "k1": k1.hex(), "k2": k2.hex(),
  "ct1": p1.encrypt(k1, pt).hex(),
  "pt2": p2.decrypt(k2, ct2).hex(),
  "mac1": p1.authenticate(k1, msg).hex(),
  "mac2": p2.authenticate(k2, msg).hex(),
}))
`

// TestAgainstPythonFido2 checks both protocols against python-fido2, an
// implementation the device side does not share.
func TestAgainstPythonFido2(t *testing.T) {
	py := testtool.NeedPython(t, "fido2.ctap2.pin", "python3-fido2")
	a, _ := ecdh.P256().GenerateKey(rand.Reader)
	b, _ := ecdh.P256().GenerateKey(rand.Reader)
	z, _ := a.ECDH(b.PublicKey())
	pt, _ := pinuv.PadPIN("correct horse")
	msg := []byte("newPinEnc || pinHashEnc")
	k2 := pinuv.Protocol2{}.KDF(z)
	ct2, err := pinuv.Protocol2{}.Encrypt(rand.Reader, k2, pt)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(map[string]string{"z": hex.EncodeToString(z), "pt": hex.EncodeToString(pt),
		"ct2": hex.EncodeToString(ct2), "msg": hex.EncodeToString(msg)})
	cmd := exec.Command(py, "-c", pyPinUV)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python-fido2: %v\n%s", err, out)
	}
	var got map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	k1 := pinuv.Protocol1{}.KDF(z)
	ct1, _ := pinuv.Protocol1{}.Encrypt(nil, k1, pt)
	for _, c := range []struct {
		name string
		ours []byte
	}{
		{"k1", k1}, {"k2", k2}, {"ct1", ct1}, {"pt2", pt},
		{"mac1", pinuv.Protocol1{}.Authenticate(k1, msg)},
		{"mac2", pinuv.Protocol2{}.Authenticate(k2, msg)},
	} {
		theirs, _ := hex.DecodeString(got[c.name])
		if !bytes.Equal(c.ours, theirs) {
			t.Errorf("%s: ours %x, python-fido2 %x", c.name, c.ours, theirs)
		}
	}
}
