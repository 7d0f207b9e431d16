package fidofw

import (
	"context"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/cose"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/ctap/u2f"
	"github.com/tokenlab/tokenlab/firmware-sim/hw"
)

var (
	fuzzOnce sync.Once
	fuzzMfr  *Manufacturer
)

// newTestAuth makes a key on a blank in-memory flash, with a deterministic
// RNG and a shared manufacturer (making a CA per fuzz run is slow).
func newTestAuth(t testing.TB) *Authenticator {
	t.Helper()
	fuzzOnce.Do(func() {
		var err error
		fuzzMfr, err = NewManufacturer(hw.SeededRNG(1), time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			panic(err)
		}
	})
	a, err := New(Config{Flash: &MemFlash{}, RNG: hw.SeededRNG(2), Manufacturer: fuzzMfr})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func hash32(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func mustEnc(v any) []byte {
	b, err := ctap.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// checkResponse is the contract of HandleCBOR: never empty, an error is one
// status byte, a success is CBOR.
func checkResponse(t *testing.T, resp []byte) {
	if len(resp) == 0 {
		t.Fatal("empty response")
	}
	if ctap.Status(resp[0]) != ctap.StatusOK {
		if len(resp) != 1 {
			t.Fatalf("error %v with a body of %d bytes", ctap.Status(resp[0]), len(resp)-1)
		}
		return
	}
	if len(resp) > 1 {
		var v any
		if err := ctap.Unmarshal(resp[1:], &v); err != nil {
			t.Fatalf("success with bad CBOR: %v", err)
		}
	}
	if len(resp) > ctaphid.MaxMessageSize {
		t.Fatalf("response of %d bytes cannot be framed", len(resp))
	}
}

func fuzzCommand(f *testing.F, cmd ctap.Command, seeds ...any) {
	for _, s := range seeds {
		switch v := s.(type) {
		case []byte:
			f.Add(v)
		default:
			f.Add(mustEnc(v))
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0xa0})
	f.Add([]byte{0xa1, 0x01, 0x80})
	a := newTestAuth(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		resp := a.HandleCBOR(context.Background(), append([]byte{byte(cmd)}, body...), nil)
		checkResponse(t, resp)
	})
}

func mcSeed() *ctap.MakeCredentialRequest {
	return &ctap.MakeCredentialRequest{ClientDataHash: hash32("c"), RP: ctap.RPEntity{ID: "example.com"},
		User: ctap.UserEntity{ID: []byte{1}, Name: "u"}, PubKeyCredParams: []ctap.CredentialParam{{Type: "public-key", Alg: cose.AlgES256}},
		Options: &ctap.Options{RK: ctap.Bool(true)}, Extensions: map[string]any{"credProtect": 2, "hmac-secret": true},
		ExcludeList: []ctap.CredentialDescriptor{{Type: "public-key", ID: []byte("x")}}}
}

// FuzzMakeCredential: the authenticatorMakeCredential request decoder.
func FuzzMakeCredential(f *testing.F) {
	fuzzCommand(f, ctap.CmdMakeCredential, mcSeed(), map[int]any{1: hash32("c"), 2: "rp", 3: 4, 4: []any{1}, 8: []byte{}, 9: 1})
}

// FuzzGetAssertion: the authenticatorGetAssertion request decoder,
// extensions included.
func FuzzGetAssertion(f *testing.F) {
	k := &cose.Key{Kty: 2, Alg: -25, Crv: 1, X: make([]byte, 32), Y: make([]byte, 32)}
	fuzzCommand(f, ctap.CmdGetAssertion,
		&ctap.GetAssertionRequest{RPID: "example.com", ClientDataHash: hash32("c"),
			AllowList: []ctap.CredentialDescriptor{{Type: "public-key", ID: []byte{keyHandleVersion, 1, 2}}}, Options: &ctap.Options{UP: ctap.Bool(false)}},
		&ctap.GetAssertionRequest{RPID: "example.com", ClientDataHash: hash32("c"),
			Extensions: map[string]any{"hmac-secret": map[int]any{1: k, 2: make([]byte, 32), 3: make([]byte, 16)}}})
}

// FuzzClientPIN: the authenticatorClientPIN request decoder.
func FuzzClientPIN(f *testing.F) {
	k := &cose.Key{Kty: 2, Alg: -25, Crv: 1, X: make([]byte, 32), Y: make([]byte, 32)}
	fuzzCommand(f, ctap.CmdClientPIN,
		&ctap.ClientPINRequest{PinUvAuthProtocol: 2, SubCommand: ctap.PINGetKeyAgreement},
		&ctap.ClientPINRequest{PinUvAuthProtocol: 1, SubCommand: ctap.PINSet, KeyAgreement: k, NewPINEnc: make([]byte, 64), PinUvAuthParam: make([]byte, 16)},
		&ctap.ClientPINRequest{PinUvAuthProtocol: 2, SubCommand: ctap.PINGetUVTokenUsingPINWithPermissions, KeyAgreement: k, PINHashEnc: make([]byte, 32), Permissions: 4, RPID: "x"})
}

// FuzzCredentialManagement: the authenticatorCredentialManagement request
// decoder, subCommandParams included.
func FuzzCredentialManagement(f *testing.F) {
	fuzzCommand(f, ctap.CmdCredentialManagement,
		&ctap.CredMgmtRequest{SubCommand: ctap.CredMgmtGetCredsMetadata, PinUvAuthProtocol: 2, PinUvAuthParam: make([]byte, 32)},
		&ctap.CredMgmtRequest{SubCommand: ctap.CredMgmtDeleteCredential, SubCommandParams: &ctap.CredMgmtParams{CredentialID: &ctap.CredentialDescriptor{Type: "public-key", ID: []byte{1}}}, PinUvAuthProtocol: 1, PinUvAuthParam: make([]byte, 16)},
		&ctap.CredMgmtRequest{SubCommand: ctap.CredMgmtEnumerateRPsGetNextRP})
}

// FuzzOtherCommands: getInfo, getNextAssertion, reset, selection and
// unknown commands, with any parameters.
func FuzzOtherCommands(f *testing.F) {
	f.Add(byte(ctap.CmdGetInfo), []byte{})
	f.Add(byte(ctap.CmdGetNextAssertion), []byte{})
	f.Add(byte(ctap.CmdReset), []byte{0xa0})
	f.Add(byte(ctap.CmdSelection), []byte{})
	f.Add(byte(0x41), []byte{0xa0})
	a := newTestAuth(f)
	f.Fuzz(func(t *testing.T, cmd byte, body []byte) {
		switch ctap.Command(cmd) {
		case ctap.CmdMakeCredential, ctap.CmdGetAssertion, ctap.CmdClientPIN, ctap.CmdCredentialManagement:
			return // their own targets
		}
		checkResponse(t, a.HandleCBOR(context.Background(), append([]byte{cmd}, body...), nil))
	})
}

// FuzzAPDU: the CTAP1/U2F command decoder.
func FuzzAPDU(f *testing.F) {
	var chal, app [32]byte
	f.Add(u2f.RegisterRequest(chal, app).Marshal())
	f.Add(u2f.AuthenticateRequest(u2f.AuthCheckOnly, chal, app, []byte{keyHandleVersion, 1}).Marshal())
	f.Add((&u2f.Command{INS: u2f.InsVersion}).Marshal())
	f.Add([]byte{0, 3, 0, 0, 0, 0, 0, 0, 0})
	a := newTestAuth(f)
	f.Fuzz(func(t *testing.T, apdu []byte) {
		resp := a.HandleAPDU(context.Background(), apdu)
		if len(resp) < 2 {
			t.Fatalf("response %x has no status word", resp)
		}
	})
}

// FuzzHIDReassembly: the device side of CTAPHID fed arbitrary reports. It
// must never panic, and every report it sends is a well-formed packet on a
// channel, answering only what it was asked.
func FuzzHIDReassembly(f *testing.F) {
	init := ctaphid.InitPacket(ctaphid.BroadcastCID, ctaphid.CmdInit, 8, []byte("12345678"))
	ping := ctaphid.Fragment(1, ctaphid.CmdPing, make([]byte, 100))
	seed := append(append(append([]byte(nil), init[:]...), ping[0][:]...), ping[1][:]...)
	f.Add(seed)
	cb := ctaphid.Fragment(1, ctaphid.CmdCBOR, []byte{byte(ctap.CmdGetInfo)})
	f.Add(append(append([]byte(nil), init[:]...), cb[0][:]...))
	cont := ctaphid.ContPacket(1, 5, nil)
	f.Add(append(append([]byte(nil), init[:]...), cont[:]...))
	a := newTestAuth(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		var mu sync.Mutex
		var out []ctaphid.Packet
		h := NewHID(a, func(p ctaphid.Packet) {
			mu.Lock()
			out = append(out, p)
			mu.Unlock()
		})
		h.TransactionTimeout = time.Hour // no timers firing mid-run
		for len(in) > 0 {
			n := min(len(in), ctaphid.ReportLen)
			h.Receive(in[:n])
			in = in[n:]
		}
		h.Close()
		mu.Lock()
		defer mu.Unlock()
		var asm ctaphid.Assembler
		for _, p := range out {
			if p.IsInit() && p.BCNT() > ctaphid.MaxMessageSize {
				t.Fatalf("answer announces %d bytes", p.BCNT())
			}
			if p.CID() == 0 && !(p.IsInit() && p.Cmd() == ctaphid.CmdError) {
				t.Fatalf("answer on channel 0: %x", p[:8])
			}
			if p.CID() != 0 && !(p.CID() == ctaphid.BroadcastCID && p.Cmd() == ctaphid.CmdError) {
				if _, err := asm.Add(p[:]); err != nil {
					t.Fatalf("answers are badly framed: %v", err)
				}
			}
		}
	})
}
