package console_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os/exec"
	"testing"

	"github.com/tokenlab/tokenlab/internal/testtool"
)

// fido2Server runs testdata/fido2_server.py (python-fido2's Fido2Server)
// on req; it returns the script's JSON answer, or its refusal as an error.
func fido2Server(t *testing.T, py string, req map[string]any) (map[string]any, error) {
	t.Helper()
	in, _ := json.Marshal(req)
	cmd := exec.Command(py, "testdata/fido2_server.py")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, errors.New(stderr.String())
	}
	var res map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("fido2_server.py: %v: %s", err, out)
	}
	return res, nil
}

// A registration and an assertion made by the simulated key verify in
// python-fido2's Fido2Server and in ours alike; a forged one fails in both.
func TestFido2ServerAgrees(t *testing.T) {
	py := testtool.NeedPython(t, "fido2", "python3-fido2")
	e := newEnv(t)
	key := newKey(t, "")
	c, _ := e.client("alice")
	cc, err := c.BeginRegistration(e.ctx, "interop")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := c.MakeCredential(e.ctx, key, cc, c.Origin())
	if err != nil {
		t.Fatal(err)
	}
	req := map[string]any{
		"rp_id": cc.Response.RelyingParty.ID, "origin": c.Origin(),
		"challenge":   base64.RawURLEncoding.EncodeToString(cc.Response.Challenge),
		"client_data": reg.Response.ClientDataJSON, "attestation_object": reg.Response.AttestationObject,
	}

	// A forged origin: both refuse.
	forged, err := c.MakeCredential(e.ctx, newKey(t, ""), cc, "http://evil.localhost:1")
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]any{}
	for k, v := range req {
		bad[k] = v
	}
	bad["client_data"], bad["attestation_object"] = forged.Response.ClientDataJSON, forged.Response.AttestationObject
	if _, err := fido2Server(t, py, bad); err == nil {
		t.Fatal("python-fido2 accepted a registration for another origin")
	} else {
		t.Logf("python-fido2: %v", err)
	}

	py1, err := fido2Server(t, py, req)
	if err != nil {
		t.Fatalf("python-fido2 refused the simulated key's registration: %v", err)
	}
	if _, err := c.FinishRegistration(e.ctx, reg); err != nil {
		t.Fatalf("ours refused what python-fido2 accepted: %v", err)
	}
	creds, err := e.svc.FIDOCredentials(e.ctx, "alice")
	if err != nil || len(creds) != 1 {
		t.Fatalf("%v %v", creds, err)
	}
	cr := creds[0]
	if py1["credential_id"] != base64.RawURLEncoding.EncodeToString(cr.ID) || py1["aaguid"] != hex.EncodeToString(cr.AAGUID) || py1["fmt"] != cr.Format {
		t.Fatalf("python-fido2 read %v; we stored id %x aaguid %x fmt %s", py1, cr.ID, cr.AAGUID, cr.Format)
	}
	if py1["public_key"] != base64.RawURLEncoding.EncodeToString(cr.PublicKey) {
		t.Errorf("public keys differ: python-fido2 %v, ours %x", py1["public_key"], cr.PublicKey)
	}
	if _, err := c.FinishRegistration(e.ctx, forged); err == nil {
		t.Fatal("ours accepted a registration for another origin")
	}

	// The assertion of the next sign-in.
	c.SignOut(e.ctx)
	c, _ = e.client("alice")
	ca, err := c.BeginLogin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	as, err := c.GetAssertion(e.ctx, key, ca, c.Origin())
	if err != nil {
		t.Fatal(err)
	}
	req["assert_challenge"] = base64.RawURLEncoding.EncodeToString(ca.Response.Challenge)
	req["credential_id"] = as.RawID
	req["assert_client_data"] = as.Response.ClientDataJSON
	req["authenticator_data"] = as.Response.AuthenticatorData
	req["signature"] = as.Response.Signature
	py2, err := fido2Server(t, py, req)
	if err != nil {
		t.Fatalf("python-fido2 refused the assertion: %v", err)
	}
	if _, err := c.FinishLogin(e.ctx, as); err != nil {
		t.Fatalf("ours refused the assertion python-fido2 accepted: %v", err)
	}
	t.Logf("python-fido2 agrees: %v, counter %v", py1["fmt"], py2["counter"])
}
