package emulator

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/cose"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/ctap/pinuv"
	"github.com/tokenlab/tokenlab/ctap/u2f"
	"github.com/tokenlab/tokenlab/firmware-sim/fidofw"
	"github.com/tokenlab/tokenlab/firmware-sim/hw"
)

func newKey(t testing.TB, opts SecurityKeyOptions) *SecurityKey {
	t.Helper()
	k, err := NewSecurityKey(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func TestGetInfo(t *testing.T) {
	h := newTestHost(t, newKey(t, SecurityKeyOptions{}))
	info := h.getInfo()
	want := []string{"U2F_V2", "FIDO_2_0", "FIDO_2_1"}
	if len(info.Versions) != 3 || info.Versions[0] != want[0] || info.Versions[1] != want[1] || info.Versions[2] != want[2] {
		t.Errorf("versions %v", info.Versions)
	}
	if !bytes.Equal(info.AAGUID, fidofw.DefaultAAGUID) {
		t.Errorf("aaguid %x", info.AAGUID)
	}
	for _, o := range []string{"rk", "up", "credMgmt", "pinUvAuthToken"} {
		if !info.Options[o] {
			t.Errorf("option %s not true: %v", o, info.Options)
		}
	}
	if v, ok := info.Options["clientPin"]; !ok || v {
		t.Errorf("clientPin should be present and false before a PIN is set: %v", info.Options)
	}
	if len(info.PinUvAuthProtocols) != 2 || info.PinUvAuthProtocols[0] != 2 || info.PinUvAuthProtocols[1] != 1 {
		t.Errorf("pinUvAuthProtocols %v", info.PinUvAuthProtocols)
	}
	if info.MaxMsgSize == 0 || len(info.Algorithms) != 2 || info.Algorithms[0].Alg != cose.AlgES256 || info.Algorithms[1].Alg != cose.AlgEdDSA {
		t.Errorf("maxMsgSize %d algorithms %v", info.MaxMsgSize, info.Algorithms)
	}
	if len(info.Extensions) != 2 {
		t.Errorf("extensions %v", info.Extensions)
	}
	if st, _ := h.cbor(ctap.CmdGetInfo, []byte{0xa0}); st != ctap.ErrInvalidLength {
		t.Errorf("getInfo with parameters: %v", st)
	}
}

// makeCred registers a credential and checks the packed attestation.
func makeCred(t *testing.T, h *testHost, k *SecurityKey, req *ctap.MakeCredentialRequest) *parsedAuthData {
	t.Helper()
	var r ctap.MakeCredentialResponse
	h.mustCBOR(ctap.CmdMakeCredential, req, &r)
	if r.Fmt != "packed" {
		t.Fatalf("fmt %q", r.Fmt)
	}
	ad := parseAuthData(t, r.AuthData)
	if !bytes.Equal(ad.rpIDHash, cdh(req.RP.ID)) || ad.flags&0x41 != 0x41 || ad.pubKey == nil {
		t.Fatalf("authData %+v", ad)
	}
	x5c, _ := r.AttStmt["x5c"].([]any)
	if len(x5c) != 1 {
		t.Fatalf("x5c %v", r.AttStmt)
	}
	der, _ := x5c[0].([]byte)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	// WebAuthn §8.2.1 certificate requirements.
	if cert.Version != 3 || cert.IsCA || len(cert.Subject.OrganizationalUnit) != 1 || cert.Subject.OrganizationalUnit[0] != "Authenticator Attestation" {
		t.Errorf("attestation certificate subject %v CA %v", cert.Subject, cert.IsCA)
	}
	found := false
	for _, e := range cert.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 45724, 1, 1, 4}) {
			var v []byte
			if _, err := asn1.Unmarshal(e.Value, &v); err != nil || !bytes.Equal(v, ad.aaguid) || e.Critical {
				t.Errorf("aaguid extension %x", e.Value)
			}
			found = true
		}
	}
	if !found {
		t.Error("no id-fido-gen-ce-aaguid extension")
	}
	pool := x509.NewCertPool()
	pool.AddCert(k.Authenticator().RootCertificate())
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: cert.NotBefore.Add(2 * time.Hour), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("batch certificate does not chain to the manufacturer CA: %v", err)
	}
	sig, _ := r.AttStmt["sig"].([]byte)
	msg := append(append([]byte(nil), r.AuthData...), req.ClientDataHash...)
	hsum := sha256.Sum256(msg)
	if !ecdsa.VerifyASN1(cert.PublicKey.(*ecdsa.PublicKey), hsum[:], sig) {
		t.Error("attestation signature does not verify")
	}
	return ad
}

func getAssertion(t *testing.T, h *testHost, req *ctap.GetAssertionRequest, pub *cose.Key) (*ctap.GetAssertionResponse, *parsedAuthData) {
	t.Helper()
	var r ctap.GetAssertionResponse
	h.mustCBOR(ctap.CmdGetAssertion, req, &r)
	ad := parseAuthData(t, r.AuthData)
	if pub != nil {
		msg := append(append([]byte(nil), r.AuthData...), req.ClientDataHash...)
		if err := pub.Verify(msg, r.Signature); err != nil {
			t.Fatalf("assertion signature: %v", err)
		}
	}
	return &r, ad
}

func TestMakeCredentialGetAssertion(t *testing.T) {
	k := newKey(t, SecurityKeyOptions{})
	h := newTestHost(t, k)
	for _, alg := range []cose.Alg{cose.AlgES256, cose.AlgEdDSA} {
		t.Run(alg.String(), func(t *testing.T) {
			req := mcReq("example.com", "alice")
			req.PubKeyCredParams = []ctap.CredentialParam{{Type: "public-key", Alg: -257}, {Type: "public-key", Alg: alg}}
			ad := makeCred(t, h, k, req)
			if ad.pubKey.Alg != alg {
				t.Fatalf("credential alg %v", ad.pubKey.Alg)
			}
			ga := &ctap.GetAssertionRequest{RPID: "example.com", ClientDataHash: cdh("ga"),
				AllowList: []ctap.CredentialDescriptor{{Type: "public-key", ID: []byte("not ours")}, {Type: "public-key", ID: ad.credID}}}
			r, gad := getAssertion(t, h, ga, ad.pubKey)
			if !bytes.Equal(r.Credential.ID, ad.credID) || gad.flags != 0x01 || gad.counter <= ad.counter {
				t.Fatalf("assertion %+v flags %x counter %d after %d", r.Credential, gad.flags, gad.counter, ad.counter)
			}
			_, gad2 := getAssertion(t, h, ga, ad.pubKey)
			if gad2.counter <= gad.counter {
				t.Errorf("counter did not increase: %d then %d", gad.counter, gad2.counter)
			}
			// The key handle is bound to its RP.
			ga.RPID = "evil.example"
			if st, _ := h.cbor(ctap.CmdGetAssertion, ga); st != ctap.ErrNoCredentials {
				t.Errorf("other RP: %v", st)
			}
			// up=false: no presence flag.
			ga.RPID = "example.com"
			ga.Options = &ctap.Options{UP: ctap.Bool(false)}
			if _, gad := getAssertion(t, h, ga, ad.pubKey); gad.flags&0x01 != 0 {
				t.Errorf("up=false gave flags %x", gad.flags)
			}
		})
	}
}

func TestMakeCredentialErrors(t *testing.T) {
	k := newKey(t, SecurityKeyOptions{})
	h := newTestHost(t, k)
	good := mcReq("example.com", "bob")
	ad := makeCred(t, h, k, good)
	cases := []struct {
		name string
		req  any
		want ctap.Status
	}{
		{"no parameters", nil, ctap.ErrMissingParameter},
		{"not CBOR", []byte{0xff, 0x00}, ctap.ErrInvalidCBOR},
		{"array not map", []byte{0x80}, ctap.ErrCBORUnexpectedType},
		{"trailing bytes", append(mustMarshal(t, good), 0), ctap.ErrInvalidCBOR},
		{"rp wrong type", map[int]any{1: cdh("x"), 2: "rp", 3: map[string]any{"id": []byte("u")}, 4: []any{}}, ctap.ErrCBORUnexpectedType},
		{"missing user", map[int]any{1: cdh("x"), 2: map[string]any{"id": "a.com"}, 4: []any{map[string]any{"type": "public-key", "alg": -7}}}, ctap.ErrMissingParameter},
		{"unsupported algorithm", func() any {
			r := mcReq("a.com", "x")
			r.PubKeyCredParams = []ctap.CredentialParam{{Type: "public-key", Alg: -257}}
			return r
		}(), ctap.ErrUnsupportedAlgorithm},
		{"up false", func() any { r := mcReq("a.com", "x"); r.Options = &ctap.Options{UP: ctap.Bool(false)}; return r }(), ctap.ErrInvalidOption},
		{"uv true without built-in uv", func() any { r := mcReq("a.com", "x"); r.Options = &ctap.Options{UV: ctap.Bool(true)}; return r }(), ctap.ErrInvalidOption},
		{"pinUvAuthParam without protocol", func() any { r := mcReq("a.com", "x"); r.PinUvAuthParam = make([]byte, 16); return r }(), ctap.ErrMissingParameter},
		{"unknown pin protocol", func() any {
			r := mcReq("a.com", "x")
			r.PinUvAuthParam = make([]byte, 16)
			r.PinUvAuthProtocol = 9
			return r
		}(), ctap.ErrInvalidParameter},
		{"token never issued", func() any {
			r := mcReq("a.com", "x")
			r.PinUvAuthParam = make([]byte, 16)
			r.PinUvAuthProtocol = 1
			return r
		}(), ctap.ErrPINAuthInvalid},
		{"pin probe without pin", probeReq(1), ctap.ErrPINNotSet},
		{"excluded", func() any {
			r := mcReq("example.com", "bob2")
			r.ExcludeList = []ctap.CredentialDescriptor{{Type: "public-key", ID: ad.credID}}
			return r
		}(), ctap.ErrCredentialExcluded},
		{"user id too long", func() any { r := mcReq("a.com", "x"); r.User.ID = make([]byte, 65); return r }(), ctap.ErrInvalidParameter},
		{"enterprise attestation", func() any { r := mcReq("a.com", "x"); r.EnterpriseAttestation = 1; return r }(), ctap.ErrInvalidParameter},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if st, _ := h.cbor(ctap.CmdMakeCredential, c.req); st != c.want {
				t.Errorf("got %v, want %v", st, c.want)
			}
		})
	}
	// An exclude list naming another RP's credential does not exclude.
	r := mcReq("other.example", "bob")
	r.ExcludeList = []ctap.CredentialDescriptor{{Type: "public-key", ID: ad.credID}}
	makeCred(t, h, k, r)
}

func mustMarshal(t testing.TB, v any) []byte {
	b, err := ctap.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestResidentKeysAndNextAssertion(t *testing.T) {
	k := newKey(t, SecurityKeyOptions{})
	h := newTestHost(t, k)
	var pubs []*cose.Key
	for _, u := range []string{"u1", "u2", "u3"} {
		req := mcReq("rk.example", u)
		req.Options = &ctap.Options{RK: ctap.Bool(true)}
		pubs = append(pubs, makeCred(t, h, k, req).pubKey)
	}
	ga := &ctap.GetAssertionRequest{RPID: "rk.example", ClientDataHash: cdh("discover")}
	r, _ := getAssertion(t, h, ga, pubs[2]) // newest first
	if r.NumberOfCredentials != 3 || r.User == nil || string(r.User.ID) != "id-u3" || r.User.Name != "" {
		t.Fatalf("first assertion %+v user %+v", r.NumberOfCredentials, r.User)
	}
	for i, want := range []string{"id-u2", "id-u1"} {
		var n ctap.GetAssertionResponse
		h.mustCBOR(ctap.CmdGetNextAssertion, nil, &n)
		if string(n.User.ID) != want {
			t.Fatalf("next %d: user %q", i, n.User.ID)
		}
		if err := pubs[1-i].Verify(append(append([]byte(nil), n.AuthData...), ga.ClientDataHash...), n.Signature); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := h.cbor(ctap.CmdGetNextAssertion, nil); st != ctap.ErrNotAllowed {
		t.Errorf("past the last: %v", st)
	}
	// Same RP and user replaces the credential.
	req := mcReq("rk.example", "u1")
	req.Options = &ctap.Options{RK: ctap.Bool(true)}
	makeCred(t, h, k, req)
	r, _ = getAssertion(t, h, ga, nil)
	if r.NumberOfCredentials != 3 {
		t.Errorf("after replacing: %d credentials", r.NumberOfCredentials)
	}
	// Another command ends the sequence.
	h.getInfo()
	if st, _ := h.cbor(ctap.CmdGetNextAssertion, nil); st != ctap.ErrNotAllowed {
		t.Errorf("after another command: %v", st)
	}
	if st, _ := h.cbor(ctap.CmdGetAssertion, &ctap.GetAssertionRequest{RPID: "none.example", ClientDataHash: cdh("x")}); st != ctap.ErrNoCredentials {
		t.Errorf("unknown RP: %v", st)
	}
	if st, _ := h.cbor(ctap.CmdGetAssertion, &ctap.GetAssertionRequest{RPID: "rk.example", ClientDataHash: cdh("x"), Options: &ctap.Options{RK: ctap.Bool(true)}}); st != ctap.ErrUnsupportedOption {
		t.Errorf("rk option: %v", st)
	}
	if st, _ := h.cbor(ctap.CmdGetAssertion, map[int]any{1: "rk.example"}); st != ctap.ErrMissingParameter {
		t.Errorf("no clientDataHash: %v", st)
	}
}

func TestPersistenceAcrossRestart(t *testing.T) {
	img := filepath.Join(t.TempDir(), "key.img")
	k := newKey(t, SecurityKeyOptions{Image: img})
	h := newTestHost(t, k)
	req := mcReq("persist.example", "p")
	req.Options = &ctap.Options{RK: ctap.Bool(true)}
	ad := makeCred(t, h, k, req)
	nonRK := makeCred(t, h, k, mcReq("persist.example", "q"))
	k.Close()
	im, err := hw.LoadImage(img, "fido")
	if err != nil || im.Kind != "fido" {
		t.Fatalf("image: %v %v", im.Kind, err)
	}
	k2 := newKey(t, SecurityKeyOptions{Image: img})
	h2 := newTestHost(t, k2)
	_, gad := getAssertion(t, h2, &ctap.GetAssertionRequest{RPID: "persist.example", ClientDataHash: cdh("after")}, ad.pubKey)
	if gad.counter <= nonRK.counter {
		t.Errorf("counter went back after restart: %d <= %d", gad.counter, nonRK.counter)
	}
	getAssertion(t, h2, &ctap.GetAssertionRequest{RPID: "persist.example", ClientDataHash: cdh("after"),
		AllowList: []ctap.CredentialDescriptor{{Type: "public-key", ID: nonRK.credID}}}, nonRK.pubKey)
}

func TestClientPIN(t *testing.T) {
	for _, v := range []int{1, 2} {
		t.Run("protocol"+string(rune('0'+v)), func(t *testing.T) {
			k := newKey(t, SecurityKeyOptions{})
			h := newTestHost(t, k)
			var rr ctap.ClientPINResponse
			h.mustCBOR(ctap.CmdClientPIN, &ctap.ClientPINRequest{SubCommand: ctap.PINGetRetries}, &rr)
			if rr.PINRetries == nil || *rr.PINRetries != 8 {
				t.Fatalf("retries %v", rr.PINRetries)
			}
			pc := h.pin(v)
			if _, st := pc.token("1234", 0, ""); st != ctap.ErrPINNotSet {
				t.Errorf("token before set: %v", st)
			}
			if st := pc.set("12"); st != ctap.ErrPINPolicyViolation {
				t.Errorf("short PIN: %v", st)
			}
			if st := pc.set("1234"); st != ctap.StatusOK {
				t.Fatalf("set: %v", st)
			}
			if !h.getInfo().Options["clientPin"] {
				t.Error("clientPin not true after set")
			}
			if st := pc.set("5678"); st != ctap.ErrNotAllowed {
				t.Errorf("set twice: %v", st)
			}
			if st := pc.change("1234", "abcdef"); st != ctap.StatusOK {
				t.Fatalf("change: %v", st)
			}
			pc = h.pin(v)
			tok, st := pc.token("abcdef", pinuv.PermMakeCredential|pinuv.PermGetAssertion, "")
			if st != ctap.StatusOK {
				t.Fatalf("token: %v", st)
			}
			p := pinuv.ByVersion(v)
			// A discoverable credential now needs the token.
			req := mcReq("pin.example", "u")
			req.Options = &ctap.Options{RK: ctap.Bool(true)}
			if st, _ := h.cbor(ctap.CmdMakeCredential, req); st != ctap.ErrPUATRequired {
				t.Errorf("rk without token: %v", st)
			}
			req.PinUvAuthParam, req.PinUvAuthProtocol = p.Authenticate(tok, req.ClientDataHash), uint(v)
			ad := makeCred(t, h, k, req)
			if ad.flags&0x04 == 0 {
				t.Errorf("no UV flag: %x", ad.flags)
			}
			ga := &ctap.GetAssertionRequest{RPID: "pin.example", ClientDataHash: cdh("g"), PinUvAuthProtocol: uint(v)}
			ga.PinUvAuthParam = p.Authenticate(tok, ga.ClientDataHash)
			r, gad := getAssertion(t, h, ga, ad.pubKey)
			if gad.flags != 0x05 || r.User.Name != "u" {
				t.Errorf("flags %x user %+v", gad.flags, r.User)
			}
			// The token is bound to the first RP it was used for.
			ga.RPID = "other.example"
			if st, _ := h.cbor(ctap.CmdGetAssertion, ga); st != ctap.ErrPINAuthInvalid {
				t.Errorf("token for another RP: %v", st)
			}
			// Bad param.
			ga.RPID = "pin.example"
			ga.PinUvAuthParam = make([]byte, len(ga.PinUvAuthParam))
			if st, _ := h.cbor(ctap.CmdGetAssertion, ga); st != ctap.ErrPINAuthInvalid {
				t.Errorf("bad pinUvAuthParam: %v", st)
			}
			// Permissions this key cannot grant.
			if _, st := pc.token("abcdef", pinuv.PermBioEnrollment, ""); st != ctap.ErrUnauthorizedPermission {
				t.Errorf("be permission: %v", st)
			}
			// The probe with a PIN set.
			if st, _ := h.cbor(ctap.CmdMakeCredential, probeReq(v)); st != ctap.ErrPINInvalid {
				t.Errorf("probe: %v", st)
			}
		})
	}
}

func TestPINRetriesAndBlocking(t *testing.T) {
	k := newKey(t, SecurityKeyOptions{})
	h := newTestHost(t, k)
	if st := h.pin(2).set("1234"); st != ctap.StatusOK {
		t.Fatal(st)
	}
	retries := func() (uint, bool) {
		var rr ctap.ClientPINResponse
		h.mustCBOR(ctap.CmdClientPIN, &ctap.ClientPINRequest{SubCommand: ctap.PINGetRetries}, &rr)
		return *rr.PINRetries, *rr.PowerCycleState
	}
	wrong := func() ctap.Status { _, st := h.pin(2).token("0000", 0, ""); return st }
	// powerCycle replugs the key: a fresh host on a fresh channel.
	powerCycle := func() {
		k.PowerCycle()
		h = newTestHost(t, k)
	}
	for i, want := range []ctap.Status{ctap.ErrPINInvalid, ctap.ErrPINInvalid, ctap.ErrPINAuthBlocked, ctap.ErrPINAuthBlocked} {
		if st := wrong(); st != want {
			t.Fatalf("attempt %d: %v, want %v", i+1, st, want)
		}
	}
	if n, pc := retries(); n != 5 || !pc {
		t.Fatalf("retries %d powerCycleState %v", n, pc)
	}
	// A correct PIN is refused too until the power cycle.
	if _, st := h.pin(2).token("1234", 0, ""); st != ctap.ErrPINAuthBlocked {
		t.Fatalf("correct PIN while auth-blocked: %v", st)
	}
	powerCycle()
	if _, st := h.pin(2).token("1234", 0, ""); st != ctap.StatusOK {
		t.Fatalf("correct PIN after power cycle: %v", st)
	}
	if n, _ := retries(); n != 8 {
		t.Fatalf("retries after success %d", n)
	}
	// 8 wrong in all blocks the PIN for good.
	got := []ctap.Status{}
	for i := 0; i < 8; i++ {
		if i > 0 && i%3 == 0 {
			powerCycle()
		}
		got = append(got, wrong())
	}
	if got[7] != ctap.ErrPINBlocked {
		t.Fatalf("8th wrong PIN: %v (all %v)", got[7], got)
	}
	powerCycle()
	if _, st := h.pin(1).token("1234", 0, ""); st != ctap.ErrPINBlocked {
		t.Fatalf("after blocking: %v", st)
	}
	if n, _ := retries(); n != 0 {
		t.Fatalf("retries %d", n)
	}
}

func TestClientPINErrors(t *testing.T) {
	h := newTestHost(t, newKey(t, SecurityKeyOptions{}))
	cases := []struct {
		name string
		req  any
		want ctap.Status
	}{
		{"no subcommand", map[int]any{1: 1}, ctap.ErrMissingParameter},
		{"unknown subcommand", &ctap.ClientPINRequest{PinUvAuthProtocol: 1, SubCommand: 0x42}, ctap.ErrInvalidSubcommand},
		{"uv retries on a key without uv", &ctap.ClientPINRequest{PinUvAuthProtocol: 1, SubCommand: ctap.PINGetUVRetries}, ctap.ErrInvalidSubcommand},
		{"no protocol", &ctap.ClientPINRequest{SubCommand: ctap.PINGetKeyAgreement}, ctap.ErrMissingParameter},
		{"protocol 3", &ctap.ClientPINRequest{PinUvAuthProtocol: 3, SubCommand: ctap.PINGetKeyAgreement}, ctap.ErrInvalidParameter},
		{"set without key", &ctap.ClientPINRequest{PinUvAuthProtocol: 1, SubCommand: ctap.PINSet, NewPINEnc: make([]byte, 64), PinUvAuthParam: make([]byte, 16)}, ctap.ErrMissingParameter},
		{"bad key agreement", &ctap.ClientPINRequest{PinUvAuthProtocol: 1, SubCommand: ctap.PINSet, KeyAgreement: &cose.Key{Kty: 2, Alg: -25, Crv: 1, X: make([]byte, 32), Y: make([]byte, 32)}, NewPINEnc: make([]byte, 64), PinUvAuthParam: make([]byte, 16)}, ctap.ErrInvalidParameter},
		{"change without pin", func() any {
			pc := h.pin(1)
			return &ctap.ClientPINRequest{PinUvAuthProtocol: 1, SubCommand: ctap.PINChange, KeyAgreement: pc.kaKey, NewPINEnc: make([]byte, 64), PINHashEnc: make([]byte, 16), PinUvAuthParam: make([]byte, 16)}
		}(), ctap.ErrPINNotSet},
		{"permissions zero", func() any {
			pc := h.pin(1)
			return &ctap.ClientPINRequest{PinUvAuthProtocol: 1, SubCommand: ctap.PINGetUVTokenUsingPINWithPermissions, KeyAgreement: pc.kaKey, PINHashEnc: make([]byte, 16)}
		}(), ctap.ErrMissingParameter},
		{"wrong type", map[int]any{1: "one", 2: 1}, ctap.ErrCBORUnexpectedType},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if st, _ := h.cbor(ctap.CmdClientPIN, c.req); st != c.want {
				t.Errorf("got %v, want %v", st, c.want)
			}
		})
	}
	// setPIN with a bad pinUvAuthParam.
	pc := h.pin(2)
	padded := make([]byte, 64)
	copy(padded, "1234")
	enc, _ := pc.p.Encrypt(nil2(), pc.shared, padded)
	st, _ := h.cbor(ctap.CmdClientPIN, &ctap.ClientPINRequest{PinUvAuthProtocol: 2, SubCommand: ctap.PINSet, KeyAgreement: pc.kaKey, NewPINEnc: enc, PinUvAuthParam: make([]byte, 32)})
	if st != ctap.ErrPINAuthInvalid {
		t.Errorf("set with bad auth: %v", st)
	}
}

func TestResetWindowAndPresence(t *testing.T) {
	clk := hw.NewManualTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	k := newKey(t, SecurityKeyOptions{Time: clk})
	h := newTestHost(t, k)
	req := mcReq("reset.example", "r")
	req.Options = &ctap.Options{RK: ctap.Bool(true)}
	ad := makeCred(t, h, k, req)
	h.pin(1).set("1234")
	clk.Advance(11 * time.Second)
	if st, _ := h.cbor(ctap.CmdReset, nil); st != ctap.ErrNotAllowed {
		t.Fatalf("reset after 11 s: %v", st)
	}
	k.PowerCycle()
	h = newTestHost(t, k)
	k.SetPresence(fidofw.Deny())
	if st, _ := h.cbor(ctap.CmdReset, nil); st != ctap.ErrOperationDenied {
		t.Fatalf("reset denied: %v", st)
	}
	k.SetPresence(fidofw.TimeoutAfter(0))
	if st, _ := h.cbor(ctap.CmdReset, nil); st != ctap.ErrUserActionTimeout {
		t.Fatalf("reset timed out: %v", st)
	}
	k.SetPresence(fidofw.Approve())
	if st, _ := h.cbor(ctap.CmdReset, nil); st != ctap.StatusOK {
		t.Fatalf("reset: %v", st)
	}
	if h.getInfo().Options["clientPin"] {
		t.Error("PIN survived reset")
	}
	ga := &ctap.GetAssertionRequest{RPID: "reset.example", ClientDataHash: cdh("x"), AllowList: []ctap.CredentialDescriptor{{Type: "public-key", ID: ad.credID}}}
	if st, _ := h.cbor(ctap.CmdGetAssertion, ga); st != ctap.ErrNoCredentials {
		t.Errorf("old key handle after reset: %v", st)
	}
	// Presence policies on makeCredential and selection.
	k.SetPresence(fidofw.Deny())
	if st, _ := h.cbor(ctap.CmdMakeCredential, mcReq("a.example", "x")); st != ctap.ErrOperationDenied {
		t.Errorf("denied makeCredential: %v", st)
	}
	if st, _ := h.cbor(ctap.CmdSelection, nil); st != ctap.ErrOperationDenied {
		t.Errorf("denied selection: %v", st)
	}
	k.SetPresence(fidofw.Approve())
	if st, _ := h.cbor(ctap.CmdSelection, nil); st != ctap.StatusOK {
		t.Errorf("selection: %v", st)
	}
}

func TestKeepaliveAndCancel(t *testing.T) {
	k := newKey(t, SecurityKeyOptions{})
	h := newTestHost(t, k)
	k.SetPresence(fidofw.TimeoutAfter(5 * time.Second))
	body := append([]byte{byte(ctap.CmdMakeCredential)}, mustMarshal(t, mcReq("ka.example", "k"))...)
	h.send(h.cid, ctaphid.CmdCBOR, body)
	cmd, data := h.recv(h.cid, true)
	if cmd != ctaphid.CmdKeepalive || len(data) != 1 || ctaphid.KeepaliveStatus(data[0]) != ctaphid.StatusUPNeeded {
		t.Fatalf("want KEEPALIVE UPNEEDED, got %v %x", cmd, data)
	}
	// Another channel is busy meanwhile.
	other := newTestHost(t, k.Open())
	other.send(other.cid, ctaphid.CmdPing, []byte("hi"))
	other.expectError(other.cid, ctaphid.ErrChannelBusy)
	h.send(h.cid, ctaphid.CmdCancel, nil)
	cmd, data = h.recv(h.cid, false)
	if cmd != ctaphid.CmdCBOR || len(data) != 1 || ctap.Status(data[0]) != ctap.ErrKeepaliveCancel {
		t.Fatalf("after CANCEL: %v %x", cmd, data)
	}
	if c, d := other.callOn(other.cid, ctaphid.CmdPing, []byte("hi")); c != ctaphid.CmdPing || string(d) != "hi" {
		t.Fatalf("ping after: %v %q", c, d)
	}
}

func TestCTAPHIDFraming(t *testing.T) {
	// A generous transaction timeout, so a loaded machine does not turn
	// the multi-packet cases into timeouts; "timeout" has its own key.
	k := newKey(t, SecurityKeyOptions{TransactionTimeout: 10 * time.Second})
	h := newTestHost(t, k)
	// PING of the largest message.
	big := bytes.Repeat([]byte{0xa5}, ctaphid.MaxMessageSize)
	if c, d := h.callOn(h.cid, ctaphid.CmdPing, big); c != ctaphid.CmdPing || !bytes.Equal(d, big) {
		t.Fatalf("big ping: %v %d bytes", c, len(d))
	}
	if c, _ := h.callOn(h.cid, ctaphid.CmdWink, nil); c != ctaphid.CmdWink || k.HID().Winks() != 1 {
		t.Fatalf("wink: %v", c)
	}
	raw := func(p ctaphid.Packet) { k.Write(p[:]) }
	t.Run("unknown command", func(t *testing.T) {
		raw(ctaphid.InitPacket(h.cid, 0xc2, 0, nil))
		h.expectError(h.cid, ctaphid.ErrInvalidCmd)
	})
	t.Run("INIT wrong length", func(t *testing.T) {
		raw(ctaphid.InitPacket(h.cid, ctaphid.CmdInit, 4, []byte{1, 2, 3, 4}))
		h.expectError(h.cid, ctaphid.ErrInvalidLen)
	})
	t.Run("BCNT too long", func(t *testing.T) {
		raw(ctaphid.InitPacket(h.cid, ctaphid.CmdPing, ctaphid.MaxMessageSize+1, nil))
		h.expectError(h.cid, ctaphid.ErrInvalidLen)
	})
	t.Run("LOCK bad parameter", func(t *testing.T) {
		raw(ctaphid.InitPacket(h.cid, ctaphid.CmdLock, 1, []byte{11}))
		h.expectError(h.cid, ctaphid.ErrInvalidPar)
	})
	t.Run("bad sequence", func(t *testing.T) {
		raw(ctaphid.InitPacket(h.cid, ctaphid.CmdPing, 100, make([]byte, 57)))
		raw(ctaphid.ContPacket(h.cid, 1, make([]byte, 43)))
		h.expectError(h.cid, ctaphid.ErrInvalidSeq)
	})
	t.Run("timeout", func(t *testing.T) {
		kt := newKey(t, SecurityKeyOptions{TransactionTimeout: 50 * time.Millisecond})
		ht := newTestHost(t, kt)
		p := ctaphid.InitPacket(ht.cid, ctaphid.CmdPing, 100, make([]byte, 57))
		kt.Write(p[:])
		ht.expectError(ht.cid, ctaphid.ErrMsgTimeout)
		// The channel works again afterwards.
		if c, _ := ht.callOn(ht.cid, ctaphid.CmdPing, []byte{1}); c != ctaphid.CmdPing {
			t.Fatal(c)
		}
	})
	t.Run("unallocated channel", func(t *testing.T) {
		raw(ctaphid.InitPacket(0x7777, ctaphid.CmdPing, 0, nil))
		h.expectError(0x7777, ctaphid.ErrInvalidChannel)
	})
	t.Run("channel zero", func(t *testing.T) {
		raw(ctaphid.InitPacket(0, ctaphid.CmdPing, 0, nil))
		expectRawError(t, k, 0, ctaphid.ErrInvalidChannel)
	})
	t.Run("broadcast non-INIT", func(t *testing.T) {
		raw(ctaphid.InitPacket(ctaphid.BroadcastCID, ctaphid.CmdPing, 0, nil))
		expectRawError(t, k, ctaphid.BroadcastCID, ctaphid.ErrInvalidChannel)
	})
	t.Run("busy while another channel sends", func(t *testing.T) {
		h2 := newTestHost(t, k)
		raw(ctaphid.InitPacket(h.cid, ctaphid.CmdPing, 100, make([]byte, 57)))
		raw(ctaphid.InitPacket(h2.cid, ctaphid.CmdPing, 1, []byte{1}))
		h2.expectError(h2.cid, ctaphid.ErrChannelBusy)
		raw(ctaphid.ContPacket(h.cid, 0, make([]byte, 43)))
		if c, d := h.recv(h.cid, false); c != ctaphid.CmdPing || len(d) != 100 {
			t.Fatalf("%v %d", c, len(d))
		}
	})
	t.Run("lock", func(t *testing.T) {
		h2 := newTestHost(t, k)
		if c, _ := h.callOn(h.cid, ctaphid.CmdLock, []byte{2}); c != ctaphid.CmdLock {
			t.Fatal(c)
		}
		raw(ctaphid.InitPacket(h2.cid, ctaphid.CmdPing, 0, nil))
		h2.expectError(h2.cid, ctaphid.ErrChannelBusy)
		h.callOn(h.cid, ctaphid.CmdLock, []byte{0})
		if c, _ := h2.callOn(h2.cid, ctaphid.CmdPing, nil); c != ctaphid.CmdPing {
			t.Fatal(c)
		}
	})
	t.Run("resync keeps channel", func(t *testing.T) {
		nonce := []byte("12345678")
		c, d := h.callOn(h.cid, ctaphid.CmdInit, nonce)
		r, _ := ctaphid.ParseInitResponse(d)
		if c != ctaphid.CmdInit || r.CID != h.cid {
			t.Fatalf("%v %+v", c, r)
		}
	})
	t.Run("CBOR empty", func(t *testing.T) {
		raw(ctaphid.InitPacket(h.cid, ctaphid.CmdCBOR, 0, nil))
		h.expectError(h.cid, ctaphid.ErrInvalidLen)
	})
	t.Run("unknown CTAP2 command", func(t *testing.T) {
		if st, _ := h.cbor(0x55, nil); st != ctap.ErrInvalidCommand {
			t.Fatal(st)
		}
	})
}

func TestInterleavedChannels(t *testing.T) {
	k := newKey(t, SecurityKeyOptions{})
	const n = 4
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			port := k.Open()
			defer port.Close()
			ft := &fatalT{TB: t}
			func() {
				defer func() { recover() }()
				h := newTestHost(ft, port)
				for j := 0; j < 10; j++ {
					msg := bytes.Repeat([]byte{byte(i)}, 200+j)
					for {
						h.send(h.cid, ctaphid.CmdPing, msg)
						c, d := h.recv(h.cid, false)
						if c == ctaphid.CmdError && d[0] == byte(ctaphid.ErrChannelBusy) {
							time.Sleep(time.Millisecond)
							continue
						}
						if c != ctaphid.CmdPing || !bytes.Equal(d, msg) {
							ft.Fatalf("channel %d: %v %x", i, c, d)
						}
						break
					}
				}
			}()
			errs <- ft.err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// fatalT lets a helper fail from another goroutine.
type fatalT struct {
	testing.TB
	err error
}

func (f *fatalT) Helper() {}
func (f *fatalT) Fatalf(format string, a ...any) {
	f.err = errorf(format, a...)
	panic(f.err)
}
func (f *fatalT) Fatal(a ...any) { f.Fatalf("%v", a...) }

func TestCredentialManagement(t *testing.T) {
	k := newKey(t, SecurityKeyOptions{})
	h := newTestHost(t, k)
	h.pin(2).set("4321")
	tok, _ := h.pin(2).token("4321", pinuv.PermMakeCredential|pinuv.PermCredentialManagement, "")
	p := pinuv.Protocol2{}
	for _, rp := range []string{"a.example", "b.example"} {
		for _, u := range []string{"x", "y"} {
			req := mcReq(rp, u)
			req.Options = &ctap.Options{RK: ctap.Bool(true)}
			req.PinUvAuthParam, req.PinUvAuthProtocol = p.Authenticate(tok, req.ClientDataHash), 2
			st, _ := h.cbor(ctap.CmdMakeCredential, req)
			if st == ctap.ErrPINAuthInvalid && rp == "b.example" {
				// The token was bound to a.example by its first use.
				tok, _ = h.pin(2).token("4321", pinuv.PermMakeCredential|pinuv.PermCredentialManagement, "")
				req.PinUvAuthParam = p.Authenticate(tok, req.ClientDataHash)
				st, _ = h.cbor(ctap.CmdMakeCredential, req)
			}
			if st != ctap.StatusOK {
				t.Fatalf("makeCredential %s %s: %v", rp, u, st)
			}
		}
	}
	tok, _ = h.pin(2).token("4321", pinuv.PermCredentialManagement, "")
	cm := func(sub ctap.CredMgmtSubcommand, params *ctap.CredMgmtParams, auth bool) (ctap.Status, *ctap.CredMgmtResponse) {
		req := &ctap.CredMgmtRequest{SubCommand: sub, SubCommandParams: params}
		if auth {
			msg := []byte{byte(sub)}
			if params != nil {
				msg = append(msg, mustMarshal(t, params)...)
			}
			req.PinUvAuthProtocol, req.PinUvAuthParam = 2, p.Authenticate(tok, msg)
		}
		st, body := h.cbor(ctap.CmdCredentialManagement, req)
		var r ctap.CredMgmtResponse
		if st == ctap.StatusOK && len(body) > 0 {
			if err := ctap.Unmarshal(body, &r); err != nil {
				t.Fatal(err)
			}
		}
		return st, &r
	}
	st, r := cm(ctap.CredMgmtGetCredsMetadata, nil, true)
	if st != ctap.StatusOK || *r.ExistingResidentCredentialsCount != 4 {
		t.Fatalf("metadata %v %+v", st, r)
	}
	if st, _ := cm(ctap.CredMgmtGetCredsMetadata, nil, false); st != ctap.ErrPUATRequired {
		t.Errorf("without token: %v", st)
	}
	st, r = cm(ctap.CredMgmtEnumerateRPsBegin, nil, true)
	if st != ctap.StatusOK || r.TotalRPs != 2 || r.RP == nil {
		t.Fatalf("rps %v %+v", st, r)
	}
	rps := []string{r.RP.ID}
	st, r = cm(ctap.CredMgmtEnumerateRPsGetNextRP, nil, false)
	if st != ctap.StatusOK {
		t.Fatal(st)
	}
	rps = append(rps, r.RP.ID)
	if rps[0] == rps[1] {
		t.Errorf("rps %v", rps)
	}
	st, r = cm(ctap.CredMgmtEnumerateCredentialsBegin, &ctap.CredMgmtParams{RPIDHash: cdh("a.example")}, true)
	if st != ctap.StatusOK || r.TotalCredentials != 2 || r.User == nil || r.CredentialID == nil || r.PublicKey == nil {
		t.Fatalf("creds %v %+v", st, r)
	}
	first := r.CredentialID.ID
	st, _ = cm(ctap.CredMgmtEnumerateCredentialsGetNextCredential, nil, false)
	if st != ctap.StatusOK {
		t.Fatal(st)
	}
	if st, _ := cm(ctap.CredMgmtEnumerateCredentialsGetNextCredential, nil, false); st != ctap.ErrNotAllowed {
		t.Errorf("past the end: %v", st)
	}
	st, _ = cm(ctap.CredMgmtUpdateUserInformation, &ctap.CredMgmtParams{CredentialID: &ctap.CredentialDescriptor{Type: "public-key", ID: first},
		User: &ctap.UserEntity{ID: r.User.ID, Name: "renamed"}}, true)
	if st != ctap.StatusOK {
		t.Fatalf("update user: %v", st)
	}
	if _, r2 := cm(ctap.CredMgmtEnumerateCredentialsBegin, &ctap.CredMgmtParams{RPIDHash: cdh("a.example")}, true); r2.User.Name != "renamed" {
		t.Errorf("after update the newest credential's user is %+v", r2.User)
	}
	st, _ = cm(ctap.CredMgmtUpdateUserInformation, &ctap.CredMgmtParams{CredentialID: &ctap.CredentialDescriptor{Type: "public-key", ID: first},
		User: &ctap.UserEntity{ID: []byte("someone else")}}, true)
	if st != ctap.ErrInvalidParameter {
		t.Errorf("update with another user ID: %v", st)
	}
	if st, _ := cm(ctap.CredMgmtDeleteCredential, &ctap.CredMgmtParams{CredentialID: &ctap.CredentialDescriptor{Type: "public-key", ID: first}}, true); st != ctap.StatusOK {
		t.Fatalf("delete: %v", st)
	}
	if st, _ := cm(ctap.CredMgmtDeleteCredential, &ctap.CredMgmtParams{CredentialID: &ctap.CredentialDescriptor{Type: "public-key", ID: first}}, true); st != ctap.ErrNoCredentials {
		t.Errorf("delete twice: %v", st)
	}
	// A deleted credential's ID is retired, even in an allow list.
	if st, _ := h.cbor(ctap.CmdGetAssertion, &ctap.GetAssertionRequest{RPID: "a.example", ClientDataHash: cdh("gone"),
		AllowList: []ctap.CredentialDescriptor{{Type: "public-key", ID: first}}}); st != ctap.ErrNoCredentials {
		t.Errorf("deleted credential in an allow list: %v", st)
	}
	if st, r = cm(ctap.CredMgmtGetCredsMetadata, nil, true); st != ctap.StatusOK || *r.ExistingResidentCredentialsCount != 3 {
		t.Errorf("after delete: %d", *r.ExistingResidentCredentialsCount)
	}
	if st, _ := cm(ctap.CredMgmtEnumerateCredentialsBegin, &ctap.CredMgmtParams{RPIDHash: cdh("none.example")}, true); st != ctap.ErrNoCredentials {
		t.Errorf("unknown RP: %v", st)
	}
	if st, _ := cm(ctap.CredMgmtEnumerateCredentialsBegin, nil, true); st != ctap.ErrMissingParameter {
		t.Errorf("no rpIDHash: %v", st)
	}
	if st, _ := cm(0x33, nil, true); st != ctap.ErrInvalidSubcommand {
		t.Errorf("unknown subcommand: %v", st)
	}
	// A token bound to one RP cannot count or list across RPs.
	tok, _ = h.pin(2).token("4321", pinuv.PermCredentialManagement, "a.example")
	if st, _ := cm(ctap.CredMgmtGetCredsMetadata, nil, true); st != ctap.ErrPINAuthInvalid {
		t.Errorf("RP-bound token, metadata: %v", st)
	}
	// A token without cm.
	tok, _ = h.pin(2).token("4321", pinuv.PermGetAssertion, "")
	if st, _ := cm(ctap.CredMgmtGetCredsMetadata, nil, true); st != ctap.ErrPINAuthInvalid {
		t.Errorf("token without cm: %v", st)
	}
}

func TestHMACSecretAndCredProtect(t *testing.T) {
	k := newKey(t, SecurityKeyOptions{})
	h := newTestHost(t, k)
	req := mcReq("ext.example", "e")
	req.Options = &ctap.Options{RK: ctap.Bool(true)}
	req.Extensions = map[string]any{"hmac-secret": true, "credProtect": 2}
	ad := makeCred(t, h, k, req)
	if ad.ext["hmac-secret"] != true || ad.ext["credProtect"] != uint64(2) {
		t.Fatalf("extension outputs %v", ad.ext)
	}
	// credProtect 2: not discoverable without UV, usable with its ID.
	if st, _ := h.cbor(ctap.CmdGetAssertion, &ctap.GetAssertionRequest{RPID: "ext.example", ClientDataHash: cdh("x")}); st != ctap.ErrNoCredentials {
		t.Errorf("credProtect 2 discovered without UV: %v", st)
	}
	pc := h.pin(2)
	salt := bytes.Repeat([]byte{7}, 32)
	saltEnc, _ := pc.p.Encrypt(nil2(), pc.shared, salt)
	ga := &ctap.GetAssertionRequest{RPID: "ext.example", ClientDataHash: cdh("x"),
		AllowList:  []ctap.CredentialDescriptor{{Type: "public-key", ID: ad.credID}},
		Extensions: map[string]any{"hmac-secret": map[int]any{1: pc.kaKey, 2: saltEnc, 3: pc.p.Authenticate(pc.shared, saltEnc), 4: 2}}}
	_, gad := getAssertion(t, h, ga, ad.pubKey)
	out, _ := gad.ext["hmac-secret"].([]byte)
	plain, err := pc.p.Decrypt(pc.shared, out)
	if err != nil || len(plain) != 32 {
		t.Fatalf("hmac-secret output %x: %v", out, err)
	}
	_, gad = getAssertion(t, h, ga, ad.pubKey)
	out2, _ := gad.ext["hmac-secret"].([]byte)
	plain2, _ := pc.p.Decrypt(pc.shared, out2)
	if !bytes.Equal(plain, plain2) {
		t.Error("hmac-secret is not stable for the same salt")
	}
	ga.Extensions = map[string]any{"hmac-secret": map[int]any{1: pc.kaKey, 2: saltEnc, 3: make([]byte, 32), 4: 2}}
	if st, _ := h.cbor(ctap.CmdGetAssertion, ga); st != ctap.ErrPINAuthInvalid {
		t.Errorf("bad saltAuth: %v", st)
	}
	// credProtect 3 needs UV even with the ID.
	req = mcReq("ext.example", "f")
	req.Extensions = map[string]any{"credProtect": 3}
	ad3 := makeCred(t, h, k, req)
	if st, _ := h.cbor(ctap.CmdGetAssertion, &ctap.GetAssertionRequest{RPID: "ext.example", ClientDataHash: cdh("x"),
		AllowList: []ctap.CredentialDescriptor{{Type: "public-key", ID: ad3.credID}}}); st != ctap.ErrNoCredentials {
		t.Errorf("credProtect 3 without UV: %v", st)
	}
}

func TestU2F(t *testing.T) {
	k := newKey(t, SecurityKeyOptions{})
	h := newTestHost(t, k)
	msg := func(c *u2f.Command) ([]byte, u2f.StatusWord) {
		t.Helper()
		cmd, d := h.callOn(h.cid, ctaphid.CmdMsg, c.Marshal())
		if cmd != ctaphid.CmdMsg {
			t.Fatalf("MSG answered %v", cmd)
		}
		data, sw, err := u2f.SplitResponse(d)
		if err != nil {
			t.Fatal(err)
		}
		return data, sw
	}
	if d, sw := msg(&u2f.Command{INS: u2f.InsVersion}); sw != u2f.SWNoError || string(d) != "U2F_V2" {
		t.Fatalf("version %q %v", d, sw)
	}
	var chal, app [32]byte
	copy(chal[:], cdh("challenge"))
	copy(app[:], cdh("https://u2f.example"))
	d, sw := msg(u2f.RegisterRequest(chal, app))
	if sw != u2f.SWNoError {
		t.Fatal(sw)
	}
	reg, err := u2f.ParseRegisterResponse(d)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(reg.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	hs := sha256.Sum256(reg.SignedData(chal, app))
	if !ecdsa.VerifyASN1(cert.PublicKey.(*ecdsa.PublicKey), hs[:], reg.Signature) {
		t.Fatal("register signature")
	}
	pub := &cose.Key{Kty: 2, Crv: 1, X: reg.PublicKey[1:33], Y: reg.PublicKey[33:]}
	if _, sw := msg(u2f.AuthenticateRequest(u2f.AuthCheckOnly, chal, app, reg.KeyHandle)); sw != u2f.SWConditionsNotSatisfied {
		t.Errorf("check-only of our handle: %v", sw)
	}
	var other [32]byte
	if _, sw := msg(u2f.AuthenticateRequest(u2f.AuthCheckOnly, chal, other, reg.KeyHandle)); sw != u2f.SWWrongData {
		t.Errorf("check-only for another app: %v", sw)
	}
	d, sw = msg(u2f.AuthenticateRequest(u2f.AuthEnforce, chal, app, reg.KeyHandle))
	if sw != u2f.SWNoError {
		t.Fatal(sw)
	}
	ar, _ := u2f.ParseAuthenticateResponse(d)
	if err := pub.Verify(ar.SignedData(chal, app), ar.Signature); err != nil || ar.UserPresence != 1 {
		t.Fatalf("authenticate: %v up %d", err, ar.UserPresence)
	}
	k.SetPresence(fidofw.Deny())
	if _, sw := msg(u2f.AuthenticateRequest(u2f.AuthEnforce, chal, app, reg.KeyHandle)); sw != u2f.SWConditionsNotSatisfied {
		t.Errorf("no touch: %v", sw)
	}
	if _, sw := msg(u2f.RegisterRequest(chal, app)); sw != u2f.SWConditionsNotSatisfied {
		t.Errorf("register without touch: %v", sw)
	}
	if _, sw := msg(&u2f.Command{INS: 0x40}); sw != u2f.SWInsNotSupported {
		t.Errorf("unknown INS: %v", sw)
	}
	if _, sw := msg(&u2f.Command{CLA: 0x80, INS: u2f.InsVersion}); sw != u2f.SWClaNotSupported {
		t.Errorf("CLA: %v", sw)
	}
	if _, sw := msg(&u2f.Command{INS: u2f.InsRegister, Data: []byte{1, 2, 3}}); sw != u2f.SWWrongLength {
		t.Errorf("short register: %v", sw)
	}
	// A CTAP2 client can use the U2F credential (rpIdHash = application).
	k.SetPresence(fidofw.Approve())
	_ = context.Background()
}

// probeReq is a makeCredential with a zero-length pinUvAuthParam (which
// the struct form would omit).
func probeReq(v int) map[int]any {
	r := mcReq("probe.example", "z")
	return map[int]any{1: r.ClientDataHash, 2: r.RP, 3: r.User, 4: r.PubKeyCredParams, 8: []byte{}, 9: v}
}

// expectRawError reads one report and checks it is CTAPHID_ERROR code on
// cid, for channels a host Assembler would refuse.
func expectRawError(t *testing.T, k *SecurityKey, cid uint32, code ctaphid.ErrCode) {
	t.Helper()
	buf := make([]byte, 64)
	k.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer k.SetReadDeadline(time.Time{})
	want := ctaphid.InitPacket(cid, ctaphid.CmdError, 1, []byte{byte(code)})
	if _, err := k.Read(buf); err != nil || !bytes.Equal(buf, want[:]) {
		t.Fatalf("got %x (%v), want %x", buf[:8], err, want[:8])
	}
}
