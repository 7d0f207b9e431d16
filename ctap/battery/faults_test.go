package battery_test

import (
	"context"
	"io"
	"sort"
	"sync"
	"testing"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/battery"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/ctap/u2f"
)

// faulty sits between the host and a simulated key and misbehaves in one
// targeted way, so each battery check is seen to fail against a key that
// breaks what it checks. Hooks left nil pass traffic through unchanged.
type faulty struct {
	inner io.ReadWriteCloser

	// outPkt rewrites host → key packets (nil results drop the packet).
	outPkt func(p ctaphid.Packet) []ctaphid.Packet
	// inPkt rewrites key → host packets before message hooks.
	inPkt func(p ctaphid.Packet) []ctaphid.Packet
	// req rewrites a complete host → key message; a non-nil reply is
	// answered to the host instead of forwarding anything.
	req func(m *ctaphid.Message) (fwd, reply *ctaphid.Message)
	// resp rewrites a complete key → host message (not KEEPALIVE or
	// ERROR); cmd is the CTAP2 command byte it answers (CBOR) or 0.
	resp func(m *ctaphid.Message, cmd ctap.Command) *ctaphid.Message

	mu      sync.Mutex
	asmOut  map[uint32]*ctaphid.Assembler
	asmIn   map[uint32]*ctaphid.Assembler
	lastCmd map[uint32]ctap.Command
	queue   chan ctaphid.Packet
	done    chan struct{}
	once    sync.Once
}

func newFaulty(inner io.ReadWriteCloser) *faulty {
	return &faulty{inner: inner, asmOut: map[uint32]*ctaphid.Assembler{}, asmIn: map[uint32]*ctaphid.Assembler{},
		lastCmd: map[uint32]ctap.Command{}, queue: make(chan ctaphid.Packet, 4096), done: make(chan struct{})}
}

func asm(m map[uint32]*ctaphid.Assembler, cid uint32) *ctaphid.Assembler {
	a := m[cid]
	if a == nil {
		a = &ctaphid.Assembler{}
		m[cid] = a
	}
	return a
}

func (f *faulty) Write(b []byte) (int, error) {
	var p ctaphid.Packet
	copy(p[:], b)
	pkts := []ctaphid.Packet{p}
	if f.outPkt != nil {
		pkts = f.outPkt(p)
	}
	for _, p := range pkts {
		if err := f.write(p); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

func (f *faulty) write(p ctaphid.Packet) error {
	f.mu.Lock()
	if p.IsInit() && p.Cmd() == ctaphid.CmdCBOR && p.BCNT() > 0 {
		f.lastCmd[p.CID()] = ctap.Command(p[ctaphid.InitHeaderLen])
	}
	if f.req == nil || p.CID() == ctaphid.BroadcastCID || (p.IsInit() && p.Cmd() == ctaphid.CmdCancel) {
		f.mu.Unlock()
		_, err := f.inner.Write(p[:])
		return err
	}
	m, err := asm(f.asmOut, p.CID()).Add(p[:])
	f.mu.Unlock()
	if err != nil { // bad framing: let the key judge it
		_, err := f.inner.Write(p[:])
		return err
	}
	if m == nil {
		return nil
	}
	fwd, reply := f.req(m)
	if reply != nil {
		for _, q := range ctaphid.Fragment(reply.CID, reply.Cmd, reply.Data) {
			f.queue <- q
		}
		return nil
	}
	for _, q := range ctaphid.Fragment(fwd.CID, fwd.Cmd, fwd.Data) {
		if _, err := f.inner.Write(q[:]); err != nil {
			return err
		}
	}
	return nil
}

// Read returns the next report for the host: the key's, rewritten, or a
// reply the fault made up.
func (f *faulty) Read(b []byte) (int, error) {
	f.once.Do(func() { go f.pump() })
	select {
	case p := <-f.queue:
		return copy(b, p[:]), nil
	case <-f.done:
		return 0, io.EOF
	}
}

func (f *faulty) pump() {
	defer close(f.done)
	for {
		var p ctaphid.Packet
		if _, err := f.inner.Read(p[:]); err != nil {
			return
		}
		pkts := []ctaphid.Packet{p}
		if f.inPkt != nil {
			pkts = f.inPkt(p)
		}
		for _, p := range pkts {
			f.in(p)
		}
	}
}

func (f *faulty) in(p ctaphid.Packet) {
	if f.resp == nil || (p.IsInit() && (p.Cmd() == ctaphid.CmdKeepalive || p.Cmd() == ctaphid.CmdError)) {
		f.queue <- p
		return
	}
	f.mu.Lock()
	a := asm(f.asmIn, p.CID())
	if p.CID() == ctaphid.BroadcastCID && p.IsInit() && p.Cmd() != ctaphid.CmdInit {
		f.mu.Unlock()
		f.queue <- p
		return
	}
	m, err := a.Add(p[:])
	cmd := f.lastCmd[p.CID()]
	f.mu.Unlock()
	if err != nil {
		f.queue <- p
		return
	}
	if m == nil {
		return
	}
	if m.Cmd != ctaphid.CmdCBOR {
		cmd = 0
	}
	if m = f.resp(m, cmd); m == nil {
		return
	}
	for _, q := range ctaphid.Fragment(m.CID, m.Cmd, m.Data) {
		f.queue <- q
	}
}

func (f *faulty) Close() error { return f.inner.Close() }

// --- rewriting helpers ---

// cbor rewrites the body of CTAP2 responses to cmd with status OK: edit
// decodes it into a fresh T, changes it, and it is encoded again.
func cborResp[T any](cmd ctap.Command, edit func(*T)) func(*ctaphid.Message, ctap.Command) *ctaphid.Message {
	return func(m *ctaphid.Message, c ctap.Command) *ctaphid.Message {
		if c != cmd || len(m.Data) < 2 || m.Data[0] != 0 {
			return m
		}
		v := new(T)
		if err := ctap.Unmarshal(m.Data[1:], v); err != nil {
			return m
		}
		edit(v)
		b, err := ctap.Marshal(v)
		if err != nil {
			panic(err)
		}
		return &ctaphid.Message{CID: m.CID, Cmd: m.Cmd, Data: append([]byte{0}, b...)}
	}
}

// status rewrites a CTAP2 status from → to (any command when cmd is 0).
func status(cmd ctap.Command, from, to ctap.Status) func(*ctaphid.Message, ctap.Command) *ctaphid.Message {
	return func(m *ctaphid.Message, c ctap.Command) *ctaphid.Message {
		if c == 0 || (cmd != 0 && c != cmd) || len(m.Data) < 1 || ctap.Status(m.Data[0]) != from {
			return m
		}
		return &ctaphid.Message{CID: m.CID, Cmd: m.Cmd, Data: []byte{byte(to)}}
	}
}

// cborReq rewrites CTAP2 requests of cmd.
func cborReq[T any](cmd ctap.Command, edit func(*T)) func(*ctaphid.Message) (*ctaphid.Message, *ctaphid.Message) {
	return func(m *ctaphid.Message) (*ctaphid.Message, *ctaphid.Message) {
		if m.Cmd != ctaphid.CmdCBOR || len(m.Data) < 2 || ctap.Command(m.Data[0]) != cmd {
			return m, nil
		}
		v := new(T)
		if err := ctap.Unmarshal(m.Data[1:], v); err != nil {
			return m, nil
		}
		edit(v)
		b, _ := ctap.Marshal(v)
		return &ctaphid.Message{CID: m.CID, Cmd: m.Cmd, Data: append([]byte{byte(cmd)}, b...)}, nil
	}
}

// swallow answers CTAP2 requests of cmd (and subcommand sub, if not 0)
// with bare success without passing them to the key.
func swallow(cmd ctap.Command, sub uint) func(*ctaphid.Message) (*ctaphid.Message, *ctaphid.Message) {
	return func(m *ctaphid.Message) (*ctaphid.Message, *ctaphid.Message) {
		if m.Cmd != ctaphid.CmdCBOR || len(m.Data) < 1 || ctap.Command(m.Data[0]) != cmd {
			return m, nil
		}
		if sub != 0 {
			var r struct {
				PIN uint `cbor:"2,keyasint"`
				CM  uint `cbor:"1,keyasint"`
			}
			ctap.Unmarshal(m.Data[1:], &r)
			got := r.PIN
			if cmd == ctap.CmdCredentialManagement {
				got = r.CM
			}
			if got != sub {
				return m, nil
			}
		}
		return nil, &ctaphid.Message{CID: m.CID, Cmd: m.Cmd, Data: []byte{0}}
	}
}

func authData(edit func(b []byte)) func(*ctap.GetAssertionResponse) {
	return func(r *ctap.GetAssertionResponse) {
		r.AuthData = append([]byte(nil), r.AuthData...)
		edit(r.AuthData)
	}
}

func hidMsg(cmd ctaphid.Cmd, edit func(m *ctaphid.Message)) func(*ctaphid.Message, ctap.Command) *ctaphid.Message {
	return func(m *ctaphid.Message, _ ctap.Command) *ctaphid.Message {
		if m.Cmd == cmd {
			m = &ctaphid.Message{CID: m.CID, Cmd: m.Cmd, Data: append([]byte(nil), m.Data...)}
			edit(m)
		}
		return m
	}
}

// u2fSW rewrites a status word of CTAPHID_MSG answers.
func u2fSW(from, to u2f.StatusWord) func(*ctaphid.Message, ctap.Command) *ctaphid.Message {
	return hidMsg(ctaphid.CmdMsg, func(m *ctaphid.Message) {
		data, sw, err := u2f.SplitResponse(m.Data)
		if err == nil && sw == from {
			m.Data = u2f.Response(data, to)
		}
	})
}

func nth(n int, f func(*ctaphid.Message)) func(*ctaphid.Message) {
	var mu sync.Mutex
	seen := 0
	return func(m *ctaphid.Message) {
		mu.Lock()
		seen++
		k := seen
		mu.Unlock()
		if k == n {
			f(m)
		}
	}
}

type fault struct {
	name  string
	fails []string // checks that must fail
	setup func(f *faulty)
}

var faults = []fault{
	// transport
	{"INIT answers protocol version 1", []string{"hid.init"}, func(f *faulty) {
		f.resp = hidMsg(ctaphid.CmdInit, func(m *ctaphid.Message) { m.Data[12] = 1 })
	}},
	{"INIT drops the nonce echo", []string{"hid.nonce"}, func(f *faulty) {
		f.resp = hidMsg(ctaphid.CmdInit, nth(2, func(m *ctaphid.Message) { m.Data[0] ^= 0xff }))
	}},
	{"PING echo corrupted", []string{"hid.ping-0", "hid.ping-57", "hid.ping-58", "hid.ping-1024", "hid.ping-7609"}, func(f *faulty) {
		f.resp = hidMsg(ctaphid.CmdPing, func(m *ctaphid.Message) {
			if len(m.Data) == 0 {
				m.Data = []byte{0}
			} else {
				m.Data[len(m.Data)-1] ^= 1
			}
		})
	}},
	{"framing errors answered with ERR_OTHER", []string{"hid.too-long", "hid.bad-seq", "hid.bad-channel", "hid.busy", "hid.unknown-cmd"}, func(f *faulty) {
		f.inPkt = func(p ctaphid.Packet) []ctaphid.Packet {
			if p.IsInit() && p.Cmd() == ctaphid.CmdError {
				p[ctaphid.InitHeaderLen] = byte(ctaphid.ErrOther)
			}
			return []ctaphid.Packet{p}
		}
	}},
	{"unfinished message never times out", []string{"hid.msg-timeout"}, func(f *faulty) {
		f.inPkt = func(p ctaphid.Packet) []ctaphid.Packet {
			if p.IsInit() && p.Cmd() == ctaphid.CmdError && ctaphid.ErrCode(p[ctaphid.InitHeaderLen]) == ctaphid.ErrMsgTimeout {
				return nil
			}
			return []ctaphid.Packet{p}
		}
	}},
	{"LOCK does nothing", []string{"hid.lock"}, func(f *faulty) {
		f.req = func(m *ctaphid.Message) (*ctaphid.Message, *ctaphid.Message) {
			if m.Cmd == ctaphid.CmdLock {
				return nil, &ctaphid.Message{CID: m.CID, Cmd: m.Cmd}
			}
			return m, nil
		}
	}},
	{"WINK refused", []string{"hid.wink"}, func(f *faulty) {
		f.resp = hidMsg(ctaphid.CmdWink, func(m *ctaphid.Message) { m.Cmd, m.Data = ctaphid.CmdError, []byte{byte(ctaphid.ErrInvalidCmd)} })
	}},
	{"no KEEPALIVE", []string{"hid.keepalive"}, func(f *faulty) {
		f.inPkt = func(p ctaphid.Packet) []ctaphid.Packet {
			if p.IsInit() && p.Cmd() == ctaphid.CmdKeepalive {
				return nil
			}
			return []ctaphid.Packet{p}
		}
	}},
	{"CANCEL ignored", []string{"hid.cancel"}, func(f *faulty) {
		f.outPkt = func(p ctaphid.Packet) []ctaphid.Packet {
			if p.IsInit() && p.Cmd() == ctaphid.CmdCancel {
				return nil
			}
			return []ctaphid.Packet{p}
		}
	}},
	// getInfo
	{"getInfo not CBOR", []string{"info.get"}, func(f *faulty) {
		f.resp = func(m *ctaphid.Message, c ctap.Command) *ctaphid.Message {
			if c == ctap.CmdGetInfo {
				return &ctaphid.Message{CID: m.CID, Cmd: m.Cmd, Data: []byte{0, 0xff}}
			}
			return m
		}
	}},
	{"getInfo versions U2F only", []string{"info.versions"}, func(f *faulty) {
		f.resp = cborResp(ctap.CmdGetInfo, func(r *ctap.GetInfoResponse) { r.Versions = []string{"U2F_V2"} })
	}},
	{"getInfo zero AAGUID", []string{"info.aaguid"}, func(f *faulty) {
		f.resp = cborResp(ctap.CmdGetInfo, func(r *ctap.GetInfoResponse) { r.AAGUID = make([]byte, 16) })
	}},
	{"getInfo plat true", []string{"info.options"}, func(f *faulty) {
		f.resp = cborResp(ctap.CmdGetInfo, func(r *ctap.GetInfoResponse) { r.Options["plat"] = true })
	}},
	{"getInfo unknown PIN protocol", []string{"info.pin-protocols"}, func(f *faulty) {
		f.resp = cborResp(ctap.CmdGetInfo, func(r *ctap.GetInfoResponse) { r.PinUvAuthProtocols = []uint{3} })
	}},
	{"getInfo maxMsgSize 512", []string{"info.msg-size"}, func(f *faulty) {
		f.resp = cborResp(ctap.CmdGetInfo, func(r *ctap.GetInfoResponse) { r.MaxMsgSize = 512 })
	}},
	{"getInfo without ES256", []string{"info.algorithms"}, func(f *faulty) {
		f.resp = cborResp(ctap.CmdGetInfo, func(r *ctap.GetInfoResponse) {
			r.Algorithms = []ctap.CredentialParam{{Type: "public-key", Alg: -8}}
		})
	}},
	// makeCredential
	{"makeCredential without UP", []string{"mc.es256"}, func(f *faulty) {
		f.resp = cborResp(ctap.CmdMakeCredential, func(r *ctap.MakeCredentialResponse) {
			r.AuthData = append([]byte(nil), r.AuthData...)
			r.AuthData[32] &^= byte(ctap.FlagUP)
		})
	}},
	{"attestation signature corrupted", []string{"mc.attestation", "mc.rk"}, func(f *faulty) {
		f.resp = cborResp(ctap.CmdMakeCredential, func(r *ctap.MakeCredentialResponse) {
			sig := append([]byte(nil), r.AttStmt["sig"].([]byte)...)
			sig[len(sig)-1] ^= 1
			r.AttStmt["sig"] = sig
		})
	}},
	{"EdDSA request answered with ES256", []string{"mc.eddsa"}, func(f *faulty) {
		f.req = cborReq(ctap.CmdMakeCredential, func(r *ctap.MakeCredentialRequest) {
			for i := range r.PubKeyCredParams {
				if r.PubKeyCredParams[i].Alg == -8 {
					r.PubKeyCredParams[i].Alg = -7
				}
			}
		})
	}},
	{"rk refused", []string{"mc.rk"}, func(f *faulty) {
		f.req = func(m *ctaphid.Message) (*ctaphid.Message, *ctaphid.Message) {
			if m.Cmd == ctaphid.CmdCBOR && ctap.Command(m.Data[0]) == ctap.CmdMakeCredential {
				var r ctap.MakeCredentialRequest
				if ctap.Unmarshal(m.Data[1:], &r) == nil && r.Options != nil && r.Options.RK != nil && *r.Options.RK {
					return nil, &ctaphid.Message{CID: m.CID, Cmd: m.Cmd, Data: []byte{byte(ctap.ErrKeyStoreFull)}}
				}
			}
			return m, nil
		}
	}},
	{"excluded credentials accepted", []string{"mc.exclude"}, func(f *faulty) {
		f.req = cborReq(ctap.CmdMakeCredential, func(r *ctap.MakeCredentialRequest) { r.ExcludeList = nil })
	}},
	{"unknown algorithm taken as ES256", []string{"mc.unsupported-alg"}, func(f *faulty) {
		f.req = cborReq(ctap.CmdMakeCredential, func(r *ctap.MakeCredentialRequest) {
			for i := range r.PubKeyCredParams {
				r.PubKeyCredParams[i].Alg = -7
			}
		})
	}},
	{"missing parameter reported as invalid", []string{"mc.missing-param"}, func(f *faulty) {
		f.resp = status(ctap.CmdMakeCredential, ctap.ErrMissingParameter, ctap.ErrInvalidParameter)
	}},
	{"invalid CBOR reported as invalid parameter", []string{"mc.invalid-cbor"}, func(f *faulty) {
		f.resp = status(ctap.CmdMakeCredential, ctap.ErrInvalidCBOR, ctap.ErrInvalidParameter)
	}},
	{"rk without UV not refused properly", []string{"mc.puat-required"}, func(f *faulty) {
		f.resp = status(ctap.CmdMakeCredential, ctap.ErrPUATRequired, ctap.ErrOperationDenied)
	}},
	// getAssertion
	{"assertion signature corrupted", []string{"ga.allowlist"}, func(f *faulty) {
		f.resp = cborResp(ctap.CmdGetAssertion, func(r *ctap.GetAssertionResponse) {
			r.Signature = append([]byte(nil), r.Signature...)
			r.Signature[len(r.Signature)-1] ^= 1
		})
	}},
	{"unknown credential reported as invalid", []string{"ga.unknown-cred"}, func(f *faulty) {
		f.resp = status(ctap.CmdGetAssertion, ctap.ErrNoCredentials, ctap.ErrInvalidCredential)
	}},
	{"credential usable for another RP", []string{"ga.wrong-rp"}, func(f *faulty) {
		f.req = cborReq(ctap.CmdGetAssertion, func(r *ctap.GetAssertionRequest) { r.RPID = battery.RPID })
	}},
	{"counter does not increase", []string{"ga.counter"}, func(f *faulty) {
		f.resp = cborResp(ctap.CmdGetAssertion, authData(func(b []byte) { copy(b[33:37], []byte{0, 0, 0, 5}) }))
	}},
	{"UP always set", []string{"ga.up-flag"}, func(f *faulty) {
		f.resp = cborResp(ctap.CmdGetAssertion, authData(func(b []byte) { b[32] |= byte(ctap.FlagUP) }))
	}},
	{"UV always set", []string{"ga.uv-flag"}, func(f *faulty) {
		f.resp = cborResp(ctap.CmdGetAssertion, authData(func(b []byte) { b[32] |= byte(ctap.FlagUV) }))
	}},
	{"rk silently ignored", []string{"ga.discoverable"}, func(f *faulty) {
		f.req = cborReq(ctap.CmdMakeCredential, func(r *ctap.MakeCredentialRequest) { r.Options = nil })
	}},
	{"getNextAssertion refused", []string{"ga.next"}, func(f *faulty) {
		f.resp = status(ctap.CmdGetNextAssertion, ctap.StatusOK, ctap.ErrNotAllowed)
	}},
	{"getNextAssertion out of turn misreported", []string{"ga.next-without-ga"}, func(f *faulty) {
		f.resp = status(ctap.CmdGetNextAssertion, ctap.ErrNotAllowed, ctap.ErrNoOperations)
	}},
	// U2F
	{"U2F version wrong", []string{"u2f.version"}, func(f *faulty) {
		f.resp = hidMsg(ctaphid.CmdMsg, func(m *ctaphid.Message) {
			if string(m.Data) == "U2F_V2\x90\x00" {
				m.Data = []byte("U2F_V3\x90\x00")
			}
		})
	}},
	{"U2F registration signature corrupted", []string{"u2f.register"}, func(f *faulty) {
		f.resp = hidMsg(ctaphid.CmdMsg, func(m *ctaphid.Message) {
			if len(m.Data) > 100 && m.Data[0] == 0x05 {
				m.Data[len(m.Data)-3] ^= 1
			}
		})
	}},
	{"U2F counter stuck", []string{"u2f.authenticate"}, func(f *faulty) {
		f.resp = hidMsg(ctaphid.CmdMsg, func(m *ctaphid.Message) {
			if len(m.Data) > 7 && len(m.Data) < 90 && m.Data[0] == 1 {
				copy(m.Data[1:5], []byte{0, 0, 0, 9})
			}
		})
	}},
	{"U2F check-only signs", []string{"u2f.check-only"}, func(f *faulty) {
		f.resp = u2fSW(u2f.SWConditionsNotSatisfied, u2f.SWNoError)
	}},
	{"U2F unknown handle accepted", []string{"u2f.bad-handle"}, func(f *faulty) {
		f.resp = u2fSW(u2f.SWWrongData, u2f.SWConditionsNotSatisfied)
	}},
	// PIN
	{"setPIN ignored", []string{"pin.set"}, func(f *faulty) { f.req = swallow(ctap.CmdClientPIN, uint(ctap.PINSet)) }},
	{"setPIN over a PIN accepted", []string{"pin.set-again"}, func(f *faulty) {
		f.resp = status(ctap.CmdClientPIN, ctap.ErrNotAllowed, ctap.StatusOK)
	}},
	{"pinUvAuthToken garbled", []string{"pin.token-p1", "pin.token-p2"}, func(f *faulty) {
		f.resp = cborResp(ctap.CmdClientPIN, func(r *ctap.ClientPINResponse) {
			if len(r.PinUvAuthToken) > 0 {
				r.PinUvAuthToken = append([]byte(nil), r.PinUvAuthToken...)
				r.PinUvAuthToken[len(r.PinUvAuthToken)-1] ^= 1
			}
		})
	}},
	{"bad pinUvAuthParam misreported", []string{"pin.auth-invalid"}, func(f *faulty) {
		f.resp = status(ctap.CmdMakeCredential, ctap.ErrPINAuthInvalid, ctap.ErrPINInvalid)
	}},
	{"permissions widened", []string{"pin.permissions"}, func(f *faulty) {
		f.req = cborReq(ctap.CmdClientPIN, func(r *ctap.ClientPINRequest) {
			if r.Permissions != 0 {
				r.Permissions |= 0x07
			}
		})
	}},
	{"PIN retries not decremented", []string{"pin.wrong-lowers-retries"}, func(f *faulty) {
		f.resp = cborResp(ctap.CmdClientPIN, func(r *ctap.ClientPINResponse) {
			if r.PINRetries != nil {
				n := uint(8)
				r.PINRetries = &n
			}
		})
	}},
	{"changePIN ignored", []string{"pin.change"}, func(f *faulty) { f.req = swallow(ctap.CmdClientPIN, uint(ctap.PINChange)) }},
	{"never blocked after 3 wrong PINs", []string{"pin.blocked-after-3"}, func(f *faulty) {
		f.resp = status(ctap.CmdClientPIN, ctap.ErrPINAuthBlocked, ctap.ErrPINInvalid)
	}},
	// credential management
	{"metadata counts nothing", []string{"cm.metadata"}, func(f *faulty) {
		f.resp = cborResp(ctap.CmdCredentialManagement, func(r *ctap.CredMgmtResponse) {
			if r.ExistingResidentCredentialsCount != nil {
				z := uint(0)
				r.ExistingResidentCredentialsCount = &z
			}
		})
	}},
	{"RP renamed", []string{"cm.rps"}, func(f *faulty) {
		f.resp = cborResp(ctap.CmdCredentialManagement, func(r *ctap.CredMgmtResponse) {
			if r.RP != nil {
				r.RP.ID = "evil.example"
			}
		})
	}},
	{"credential IDs garbled", []string{"cm.creds"}, func(f *faulty) {
		f.resp = cborResp(ctap.CmdCredentialManagement, func(r *ctap.CredMgmtResponse) {
			if r.CredentialID != nil {
				r.CredentialID.ID = append([]byte{1}, r.CredentialID.ID...)
			}
		})
	}},
	{"delete ignored", []string{"cm.delete"}, func(f *faulty) {
		f.req = swallow(ctap.CmdCredentialManagement, uint(ctap.CredMgmtDeleteCredential))
	}},
	// selection, reset
	{"selection denied", []string{"selection"}, func(f *faulty) {
		f.resp = status(ctap.CmdSelection, ctap.StatusOK, ctap.ErrOperationDenied)
	}},
	{"reset ignored", []string{"reset"}, func(f *faulty) { f.req = swallow(ctap.CmdReset, 0) }},
}

// TestBatteryCatchesFaults shows every check failing against a key that
// breaks what it checks, so none passes vacuously.
func TestBatteryCatchesFaults(t *testing.T) {
	covered := map[string]bool{}
	for _, f := range faults {
		for _, n := range f.fails {
			covered[n] = true
		}
	}
	var missing []string
	for _, c := range battery.Checks() {
		if !covered[c.Name] {
			missing = append(missing, c.Name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("checks never shown to fail: %v", missing)
	}
	for _, fl := range faults {
		t.Run(fl.name, func(t *testing.T) {
			t.Parallel()
			k := newSimKey(t)
			target := k.target(func(rw io.ReadWriteCloser) io.ReadWriteCloser {
				f := newFaulty(rw)
				fl.setup(f)
				return f
			})
			only := map[string]bool{}
			for _, n := range fl.fails {
				only[n] = true
			}
			rep := battery.Run(context.Background(), target, battery.Options{Only: only, Destructive: true})
			for _, n := range fl.fails {
				r, ok := rep.Get(n)
				if !ok {
					t.Errorf("%s did not run", n)
					continue
				}
				if r.Outcome != battery.Fail {
					t.Errorf("%s: %s (%s), want fail", n, r.Outcome, r.Detail)
				} else {
					t.Logf("%s fails: %s", n, r.Detail)
				}
			}
		})
	}
}
