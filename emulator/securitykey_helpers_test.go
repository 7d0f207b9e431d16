package emulator

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/cose"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/ctap/pinuv"
)

// reportRW is what the test host needs of a transport.
type reportRW interface {
	Read([]byte) (int, error)
	Write([]byte) (int, error)
	SetReadDeadline(time.Time) error
}

// testHost is a minimal CTAPHID host for tests: it frames with package
// ctaphid and nothing else, so it checks the device side independently of
// the ctap client.
type testHost struct {
	t   testing.TB
	rw  reportRW
	cid uint32
}

func newTestHost(t testing.TB, rw reportRW) *testHost {
	t.Helper()
	h := &testHost{t: t, rw: rw, cid: ctaphid.BroadcastCID}
	h.cid = h.init()
	return h
}

func (h *testHost) init() uint32 {
	h.t.Helper()
	nonce := make([]byte, 8)
	rand.Read(nonce)
	for try := 0; try < 100; try++ {
		h.send(ctaphid.BroadcastCID, ctaphid.CmdInit, nonce)
		for {
			cmd, data := h.recv(ctaphid.BroadcastCID, false)
			if cmd == ctaphid.CmdError && len(data) == 1 && ctaphid.ErrCode(data[0]) == ctaphid.ErrChannelBusy {
				break // another host's message is being received: retry
			}
			if cmd != ctaphid.CmdInit {
				h.t.Fatalf("INIT answered %v %x", cmd, data)
			}
			r, err := ctaphid.ParseInitResponse(data)
			if err != nil {
				h.t.Fatalf("INIT response %x: %v", data, err)
			}
			if bytes.Equal(r.Nonce[:], nonce) {
				return r.CID
			}
			// Another host's INIT answer (every handle sees broadcasts).
		}
		time.Sleep(time.Millisecond)
	}
	h.t.Fatal("INIT: device busy 100 times")
	return 0
}

func (h *testHost) send(cid uint32, cmd ctaphid.Cmd, data []byte) {
	h.t.Helper()
	for _, p := range ctaphid.Fragment(cid, cmd, data) {
		if _, err := h.rw.Write(p[:]); err != nil {
			h.t.Fatal(err)
		}
	}
}

// recv reads the next message for cid, skipping KEEPALIVEs unless keep.
func (h *testHost) recv(cid uint32, keep bool) (ctaphid.Cmd, []byte) {
	h.t.Helper()
	var asm ctaphid.Assembler
	buf := make([]byte, 64)
	h.rw.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer h.rw.SetReadDeadline(time.Time{})
	for {
		n, err := h.rw.Read(buf)
		if err != nil {
			h.t.Fatalf("read: %v", err)
		}
		if !ctaphid.Only(cid)(buf[:n]) {
			continue
		}
		if cid == ctaphid.BroadcastCID && n >= 8 && buf[4] == byte(ctaphid.CmdError) {
			// An error on the broadcast channel (busy while INIT): the
			// Assembler refuses those, hosts must still read them.
			return ctaphid.CmdError, append([]byte(nil), buf[7:8]...)
		}
		m, err := asm.Add(buf[:n])
		if err != nil {
			h.t.Fatalf("bad answer framing: %v", err)
		}
		if m == nil {
			continue
		}
		if m.Cmd == ctaphid.CmdKeepalive && !keep {
			continue
		}
		return m.Cmd, m.Data
	}
}

func (h *testHost) callOn(cid uint32, cmd ctaphid.Cmd, data []byte) (ctaphid.Cmd, []byte) {
	h.t.Helper()
	h.send(cid, cmd, data)
	return h.recv(cid, false)
}

// expectError checks that the next message on cid is CTAPHID_ERROR code.
func (h *testHost) expectError(cid uint32, code ctaphid.ErrCode) {
	h.t.Helper()
	cmd, data := h.recv(cid, false)
	if cmd != ctaphid.CmdError || len(data) != 1 || ctaphid.ErrCode(data[0]) != code {
		h.t.Fatalf("got %v %x, want ERROR %v", cmd, data, code)
	}
}

// cbor sends a CTAP2 command with CBOR parameters (req may be nil, or
// raw []byte) and returns the status and CBOR body.
func (h *testHost) cbor(c ctap.Command, req any) (ctap.Status, []byte) {
	h.t.Helper()
	var body []byte
	switch r := req.(type) {
	case nil:
	case []byte:
		body = r
	default:
		var err error
		if body, err = ctap.Marshal(req); err != nil {
			h.t.Fatal(err)
		}
	}
	cmd, data := h.callOn(h.cid, ctaphid.CmdCBOR, append([]byte{byte(c)}, body...))
	if cmd != ctaphid.CmdCBOR || len(data) == 0 {
		h.t.Fatalf("%v answered %v %x", c, cmd, data)
	}
	return ctap.Status(data[0]), data[1:]
}

// mustCBOR is cbor expecting success, decoding into out.
func (h *testHost) mustCBOR(c ctap.Command, req, out any) {
	h.t.Helper()
	st, body := h.cbor(c, req)
	if st != ctap.StatusOK {
		h.t.Fatalf("%v: %v", c, st)
	}
	if out != nil {
		if err := ctap.Unmarshal(body, out); err != nil {
			h.t.Fatalf("%v response: %v", c, err)
		}
	}
}

func (h *testHost) getInfo() *ctap.GetInfoResponse {
	var r ctap.GetInfoResponse
	h.mustCBOR(ctap.CmdGetInfo, nil, &r)
	return &r
}

func cdh(s string) []byte { x := sha256.Sum256([]byte(s)); return x[:] }

func mcReq(rp string, user string) *ctap.MakeCredentialRequest {
	return &ctap.MakeCredentialRequest{
		ClientDataHash:   cdh("mc " + rp + user),
		RP:               ctap.RPEntity{ID: rp, Name: rp},
		User:             ctap.UserEntity{ID: []byte("id-" + user), Name: user, DisplayName: "User " + user},
		PubKeyCredParams: []ctap.CredentialParam{{Type: "public-key", Alg: cose.AlgES256}},
	}
}

// attested splits authenticator data with attested credential data.
type parsedAuthData struct {
	rpIDHash []byte
	flags    byte
	counter  uint32
	aaguid   []byte
	credID   []byte
	pubKey   *cose.Key
	ext      map[string]any
}

func parseAuthData(t testing.TB, ad []byte) *parsedAuthData {
	t.Helper()
	if len(ad) < 37 {
		t.Fatalf("authData of %d bytes", len(ad))
	}
	p := &parsedAuthData{rpIDHash: ad[:32], flags: ad[32], counter: binary.BigEndian.Uint32(ad[33:37])}
	rest := ad[37:]
	if p.flags&0x40 != 0 {
		p.aaguid = rest[:16]
		n := int(binary.BigEndian.Uint16(rest[16:18]))
		p.credID = rest[18 : 18+n]
		rest = rest[18+n:]
		var k cose.Key
		r, err := ctap.DecMode().UnmarshalFirst(rest, &k)
		if err != nil {
			t.Fatalf("credential public key: %v", err)
		}
		p.pubKey = &k
		rest = r
	}
	if p.flags&0x80 != 0 {
		if err := ctap.Unmarshal(rest, &p.ext); err != nil {
			t.Fatalf("extensions: %v", err)
		}
	} else if len(rest) != 0 {
		t.Fatalf("%d trailing bytes in authData", len(rest))
	}
	return p
}

// pinClient does the platform side of clientPIN.
type pinClient struct {
	h      *testHost
	p      pinuv.Protocol
	shared []byte
	kaKey  *cose.Key
}

func (h *testHost) pin(version int) *pinClient {
	h.t.Helper()
	c := &pinClient{h: h, p: pinuv.ByVersion(version)}
	var r ctap.ClientPINResponse
	h.mustCBOR(ctap.CmdClientPIN, &ctap.ClientPINRequest{PinUvAuthProtocol: uint(version), SubCommand: ctap.PINGetKeyAgreement}, &r)
	var err error
	c.kaKey, c.shared, err = c.p.Encapsulate(rand.Reader, r.KeyAgreement)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (c *pinClient) set(pin string) ctap.Status {
	padded := make([]byte, 64)
	copy(padded, pin)
	enc, _ := c.p.Encrypt(rand.Reader, c.shared, padded)
	st, _ := c.h.cbor(ctap.CmdClientPIN, &ctap.ClientPINRequest{PinUvAuthProtocol: uint(c.p.Version()), SubCommand: ctap.PINSet,
		KeyAgreement: c.kaKey, NewPINEnc: enc, PinUvAuthParam: c.p.Authenticate(c.shared, enc)})
	return st
}

func (c *pinClient) change(old, pin string) ctap.Status {
	padded := make([]byte, 64)
	copy(padded, pin)
	enc, _ := c.p.Encrypt(rand.Reader, c.shared, padded)
	he, _ := c.p.Encrypt(rand.Reader, c.shared, pinuv.PINHash(old))
	st, _ := c.h.cbor(ctap.CmdClientPIN, &ctap.ClientPINRequest{PinUvAuthProtocol: uint(c.p.Version()), SubCommand: ctap.PINChange,
		KeyAgreement: c.kaKey, NewPINEnc: enc, PINHashEnc: he, PinUvAuthParam: c.p.Authenticate(c.shared, append(append([]byte(nil), enc...), he...))})
	return st
}

// token gets a pinUvAuthToken (subcommand 9 with perms, or 5 when perms is 0).
func (c *pinClient) token(pin string, perms pinuv.Permission, rpID string) ([]byte, ctap.Status) {
	he, _ := c.p.Encrypt(rand.Reader, c.shared, pinuv.PINHash(pin))
	req := &ctap.ClientPINRequest{PinUvAuthProtocol: uint(c.p.Version()), SubCommand: ctap.PINGetToken, KeyAgreement: c.kaKey, PINHashEnc: he}
	if perms != 0 {
		req.SubCommand, req.Permissions, req.RPID = ctap.PINGetUVTokenUsingPINWithPermissions, perms, rpID
	}
	st, body := c.h.cbor(ctap.CmdClientPIN, req)
	if st != ctap.StatusOK {
		return nil, st
	}
	var r ctap.ClientPINResponse
	if err := ctap.Unmarshal(body, &r); err != nil {
		c.h.t.Fatal(err)
	}
	tok, err := c.p.Decrypt(c.shared, r.PinUvAuthToken)
	if err != nil {
		c.h.t.Fatal(err)
	}
	return tok, st
}
