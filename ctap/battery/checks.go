package battery

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/cose"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/ctap/pinuv"
	"github.com/tokenlab/tokenlab/ctap/u2f"
)

func allChecks() []check {
	var cs []check
	add := func(family, name, summary string, needs []string, run func(context.Context, *session) error) {
		cs = append(cs, check{name: name, family: family, summary: summary, needs: needs, run: run})
	}
	// CTAPHID transport, CTAP 2.1 §11.2.
	add("transport", "hid.init", "INIT allocates a channel (CTAPHID protocol 2)", nil, checkInit)
	add("transport", "hid.nonce", "INIT response echoes the 8-byte nonce", nil, checkNonce)
	for _, n := range []int{0, 57, 58, 1024, ctaphid.MaxMessageSize} {
		add("transport", fmt.Sprintf("hid.ping-%d", n), fmt.Sprintf("PING of %d bytes is echoed", n), nil, checkPing(n))
	}
	add("transport", "hid.too-long", "a message longer than 7609 bytes is refused with ERR_INVALID_LEN", nil, checkTooLong)
	add("transport", "hid.bad-seq", "an out-of-order continuation packet gets ERR_INVALID_SEQ", nil, checkBadSeq)
	add("transport", "hid.bad-channel", "a command on the broadcast channel gets ERR_INVALID_CHANNEL", nil, checkBadChannel)
	add("transport", "hid.busy", "another channel gets ERR_CHANNEL_BUSY during a transaction, which completes", nil, checkBusy)
	add("transport", "hid.msg-timeout", "an unfinished message gets ERR_MSG_TIMEOUT", nil, checkMsgTimeout)
	add("transport", "hid.lock", "LOCK keeps other channels busy until released", nil, checkLock)
	add("transport", "hid.unknown-cmd", "an unknown command gets ERR_INVALID_CMD", nil, checkUnknownCmd)
	add("transport", "hid.wink", "WINK is answered when the WINK capability is set", nil, checkWink)
	add("transport", "hid.keepalive", "KEEPALIVE UPNEEDED is sent while waiting for a touch", nil, checkKeepalive)
	add("transport", "hid.cancel", "CANCEL ends a waiting request with CTAP2_ERR_KEEPALIVE_CANCEL", nil, checkCancel)
	// authenticatorGetInfo, §6.4.
	add("info", "info.get", "authenticatorGetInfo answers with versions and AAGUID", nil, checkInfoGet)
	gi := []string{"info.get"}
	add("info", "info.versions", "versions include FIDO_2_0 or FIDO_2_1", gi, checkInfoVersions)
	add("info", "info.aaguid", "AAGUID is 16 bytes, not all zero", gi, checkInfoAAGUID)
	add("info", "info.options", "options are consistent (plat false, up not false, rk present)", gi, checkInfoOptions)
	add("info", "info.pin-protocols", "PIN/UV protocols 1 or 2 are offered with clientPin", gi, checkInfoProtocols)
	add("info", "info.msg-size", "maxMsgSize is at least 1024", gi, checkInfoMsgSize)
	add("info", "info.algorithms", "algorithms include ES256", gi, checkInfoAlgorithms)
	// ClientPIN, §6.5 (set and tokens first: later checks use the PIN).
	add("pin", "pin.set", "setPIN sets a PIN on a key without one", gi, checkPINSet)
	add("pin", "pin.set-again", "setPIN on a key with a PIN is refused (CTAP2_ERR_NOT_ALLOWED)", gi, checkPINSetAgain)
	add("pin", "pin.token-p1", "PIN/UV auth protocol 1 gives a pinUvAuthToken for the right PIN", gi, checkToken(1))
	add("pin", "pin.token-p2", "PIN/UV auth protocol 2 gives a pinUvAuthToken for the right PIN", gi, checkToken(2))
	// MakeCredential, §6.1.
	add("makeCredential", "mc.es256", "makeCredential with ES256 makes a credential (UP, AT, ES256 key)", gi, checkMCES256)
	mc := []string{"mc.es256"}
	add("makeCredential", "mc.attestation", "the attestation statement verifies (packed, fido-u2f or none)", mc, checkMCAttestation)
	add("makeCredential", "mc.eddsa", "with EdDSA listed, an EdDSA credential is made and its assertion verifies", gi, checkMCEdDSA)
	add("makeCredential", "mc.rk", "makeCredential with rk makes discoverable credentials", gi, checkMCRK)
	add("makeCredential", "mc.exclude", "a credential in excludeList is refused (CTAP2_ERR_CREDENTIAL_EXCLUDED)", mc, checkMCExclude)
	add("makeCredential", "mc.unsupported-alg", "an unsupported algorithm is refused (CTAP2_ERR_UNSUPPORTED_ALGORITHM)", gi, checkMCBadAlg)
	add("makeCredential", "mc.missing-param", "a request without clientDataHash is refused (CTAP2_ERR_MISSING_PARAMETER)", gi, checkMCMissing)
	add("makeCredential", "mc.invalid-cbor", "a request that is not CBOR is refused (CTAP2_ERR_INVALID_CBOR)", gi, checkMCInvalidCBOR)
	add("makeCredential", "mc.puat-required", "with a PIN set, rk without pinUvAuthParam is refused (CTAP2_ERR_PUAT_REQUIRED)", gi, checkMCPUATRequired)
	// GetAssertion, §6.2–§6.3.
	add("getAssertion", "ga.allowlist", "getAssertion with allowList signs with that credential", mc, checkGAAllowList)
	add("getAssertion", "ga.unknown-cred", "an unknown credential gives CTAP2_ERR_NO_CREDENTIALS", gi, checkGAUnknown)
	add("getAssertion", "ga.wrong-rp", "a credential is not usable for another RP ID", mc, checkGAWrongRP)
	add("getAssertion", "ga.counter", "the signature counter increases with every assertion", mc, checkGACounter)
	add("getAssertion", "ga.up-flag", "UP is set after a touch and clear with up=false", mc, checkGAUP)
	add("getAssertion", "ga.uv-flag", "UV is set with pinUvAuthParam and clear without", mc, checkGAUV)
	add("getAssertion", "ga.discoverable", "getAssertion without allowList finds the discoverable credentials", []string{"mc.rk"}, checkGADiscoverable)
	add("getAssertion", "ga.next", "getNextAssertion returns the next credential", []string{"ga.discoverable"}, checkGANext)
	add("getAssertion", "ga.next-without-ga", "getNextAssertion without a getAssertion is refused (CTAP2_ERR_NOT_ALLOWED)", gi, checkGANextAlone)
	// CTAP1/U2F over CTAPHID_MSG, §11.2.9.1.1.
	add("u2f", "u2f.version", "U2F_VERSION answers U2F_V2", nil, checkU2FVersion)
	add("u2f", "u2f.register", "U2F_REGISTER answers a registration that verifies", []string{"u2f.version"}, checkU2FRegister)
	add("u2f", "u2f.authenticate", "U2F_AUTHENTICATE signs, counter increasing", []string{"u2f.register"}, checkU2FAuthenticate)
	add("u2f", "u2f.check-only", "check-only answers SW_CONDITIONS_NOT_SATISFIED for a known handle", []string{"u2f.register"}, checkU2FCheckOnly)
	add("u2f", "u2f.bad-handle", "an unknown key handle gets SW_WRONG_DATA", []string{"u2f.version"}, checkU2FBadHandle)
	// More ClientPIN.
	add("pin", "pin.auth-invalid", "a wrong pinUvAuthParam is refused (CTAP2_ERR_PIN_AUTH_INVALID)", mc, checkPINAuthInvalid)
	add("pin", "pin.permissions", "a token without the mc permission cannot make credentials", mc, checkPINPermissions)
	add("pin", "pin.wrong-lowers-retries", "a wrong PIN lowers the retries; the right one restores them", gi, checkPINWrong)
	add("pin", "pin.change", "changePIN changes the PIN (and back)", gi, checkPINChange)
	add("pin", "pin.blocked-after-3", "3 wrong PINs in a row block PIN use until a power cycle", gi, checkPINBlocked)
	// CredentialManagement, §6.8.
	add("credMgmt", "cm.metadata", "getCredsMetadata counts the discoverable credentials", []string{"mc.rk"}, checkCMMetadata)
	add("credMgmt", "cm.rps", "enumerateRPs lists the battery's RP", []string{"mc.rk"}, checkCMRPs)
	add("credMgmt", "cm.creds", "enumerateCredentials lists the battery's credentials", []string{"mc.rk"}, checkCMCreds)
	add("credMgmt", "cm.delete", "deleteCredential deletes a credential", []string{"mc.rk"}, checkCMDelete)
	// Selection and Reset.
	add("selection", "selection", "authenticatorSelection answers after a touch", gi, checkSelection)
	cs = append(cs, check{name: "reset", family: "reset", summary: "authenticatorReset after a power cycle erases credentials and PIN",
		needs: gi, destructive: true, run: checkReset})
	return cs
}

// --- helpers ---

func expectStatus(err error, want ...ctap.Status) error {
	got := ctap.StatusOf(err)
	if slices.Contains(want, got) {
		return nil
	}
	if err == nil {
		return fmt.Errorf("accepted; want %s", want[0].String())
	}
	if got == ctap.ErrOther {
		return fmt.Errorf("want %s, got error: %v", want[0].String(), err)
	}
	return fmt.Errorf("got %s, want %s", got.String(), want[0].String())
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func (s *session) hasOption(name string) bool { return s.info != nil && s.info.Options[name] }

func (s *session) is21() bool {
	return s.info != nil && slices.Contains(s.info.Versions, ctap.VersionFIDO21)
}

// needPIN skips when the key has a PIN the battery does not know.
func (s *session) needPIN() error {
	if s.pin == "" {
		if s.hasOption(ctap.OptClientPIN) {
			return skipf("the key has a PIN: pass it with --pin")
		}
		return skipf("no PIN set (pin.set did not run)")
	}
	return nil
}

// token returns a fresh pinUvAuthToken with perms for RPID.
func (s *session) freshToken(ctx context.Context, perms ctap.Permission) (*ctap.Token, error) {
	if s.proto == nil {
		return nil, errors.New("no PIN/UV protocol in common")
	}
	if !s.is21() {
		perms = 0 // CTAP 2.0: legacy getPINToken
	}
	return s.client.PINToken(ctx, s.proto, s.pin, perms, RPID)
}

// uvParam returns pinUvAuthParam and protocol for clientDataHash when the
// PIN is known, or nil and 0.
func (s *session) uvParam(ctx context.Context, cdh []byte, perms ctap.Permission) ([]byte, uint, error) {
	if s.pin == "" {
		if s.hasOption(ctap.OptClientPIN) {
			return nil, 0, skipf("the key has a PIN: pass it with --pin")
		}
		return nil, 0, nil
	}
	tok, err := s.freshToken(ctx, perms)
	if err != nil {
		return nil, 0, fmt.Errorf("pinUvAuthToken: %w", err)
	}
	return tok.Param(cdh), uint(tok.Protocol.Version()), nil
}

func es256() []ctap.CredentialParam {
	return []ctap.CredentialParam{{Type: ctap.CredentialTypePublicKey, Alg: cose.AlgES256}}
}

func (s *session) mcRequest(ctx context.Context, rk bool, user ctap.UserEntity) (*ctap.MakeCredentialRequest, error) {
	cdh := randBytes(32)
	req := &ctap.MakeCredentialRequest{
		ClientDataHash:   cdh,
		RP:               ctap.RPEntity{ID: RPID, Name: "tokenlab battery"},
		User:             user,
		PubKeyCredParams: es256(),
	}
	if rk {
		req.Options = &ctap.Options{RK: ctap.Bool(true)}
	}
	p, v, err := s.uvParam(ctx, cdh, pinuv.PermMakeCredential|pinuv.PermGetAssertion)
	if err != nil {
		return nil, err
	}
	req.PinUvAuthParam, req.PinUvAuthProtocol = p, v
	return req, nil
}

func (s *session) makeCred(ctx context.Context, rk bool, user ctap.UserEntity) (*madeCred, *ctap.MakeCredentialResponse, []byte, error) {
	req, err := s.mcRequest(ctx, rk, user)
	if err != nil {
		return nil, nil, nil, err
	}
	var resp *ctap.MakeCredentialResponse
	err = s.touch(func() error {
		var e error
		resp, e = s.client.MakeCredential(ctx, req)
		return e
	})
	if err != nil {
		return nil, nil, nil, err
	}
	ad, err := ctap.ParseAuthData(resp.AuthData)
	if err != nil {
		return nil, nil, nil, err
	}
	if ad.Attested == nil {
		return nil, nil, nil, errors.New("authenticator data without attested credential data (AT)")
	}
	return &madeCred{id: ad.Attested.CredentialID, pub: &ad.Attested.PublicKey, user: user}, resp, req.ClientDataHash, nil
}

func (s *session) assert(ctx context.Context, rpID string, allow [][]byte, opts *ctap.Options, uv bool) (*ctap.GetAssertionResponse, []byte, error) {
	cdh := randBytes(32)
	req := &ctap.GetAssertionRequest{RPID: rpID, ClientDataHash: cdh, Options: opts}
	for _, id := range allow {
		req.AllowList = append(req.AllowList, ctap.CredentialDescriptor{Type: ctap.CredentialTypePublicKey, ID: id})
	}
	if uv {
		p, v, err := s.uvParam(ctx, cdh, pinuv.PermGetAssertion)
		if err != nil {
			return nil, nil, err
		}
		req.PinUvAuthParam, req.PinUvAuthProtocol = p, v
	}
	var resp *ctap.GetAssertionResponse
	err := s.touch(func() error {
		var e error
		resp, e = s.client.GetAssertion(ctx, req)
		return e
	})
	return resp, cdh, err
}

// --- raw CTAPHID ---

// rawRecv reads the next message on cid, skipping KEEPALIVE; a
// CTAPHID_ERROR comes back as a message with Cmd CmdError.
func (s *session) rawRecv(ctx context.Context, cid uint32, wait time.Duration) (*ctaphid.Message, []ctaphid.KeepaliveStatus, error) {
	var a ctaphid.Assembler
	var kas []ctaphid.KeepaliveStatus
	deadline := time.Now().Add(wait)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, kas, errors.New("no answer in time")
		}
		p, err := s.dev.ReadPacket(ctx, left)
		if err != nil {
			return nil, kas, err
		}
		if p.CID() != cid {
			continue
		}
		if p.IsInit() && p.Cmd() == ctaphid.CmdKeepalive {
			kas = append(kas, ctaphid.KeepaliveStatus(p[ctaphid.InitHeaderLen]))
			continue
		}
		if p.IsInit() && p.Cmd() == ctaphid.CmdError { // may come on any channel, even broadcast
			return &ctaphid.Message{CID: cid, Cmd: ctaphid.CmdError, Data: p[ctaphid.InitHeaderLen : ctaphid.InitHeaderLen+min(p.BCNT(), 1)]}, kas, nil
		}
		m, err := a.Add(p[:])
		if err != nil {
			return nil, kas, fmt.Errorf("bad framing from the key: %v", err)
		}
		if m != nil {
			return m, kas, nil
		}
	}
}

func (s *session) rawSend(pkts ...[ctaphid.ReportLen]byte) error {
	for _, p := range pkts {
		if err := s.dev.WritePacket(p); err != nil {
			return err
		}
	}
	return nil
}

func expectHIDError(m *ctaphid.Message, want ctaphid.ErrCode) error {
	if m.Cmd != ctaphid.CmdError {
		return fmt.Errorf("got %v (%d bytes), want ERROR %s", m.Cmd, len(m.Data), want.String())
	}
	if len(m.Data) < 1 {
		return errors.New("ERROR without a code")
	}
	if got := ctaphid.ErrCode(m.Data[0]); got != want {
		return fmt.Errorf("got ERROR %s, want %s", got.String(), want.String())
	}
	return nil
}

const rawWait = 2 * time.Second

// --- transport checks ---

func checkInit(ctx context.Context, s *session) error {
	if s.dev == nil {
		d, err := s.t.Open(ctx)
		if err != nil {
			return fmt.Errorf("open: %w", err)
		}
		s.dev = d
	}
	if err := s.attach(ctx); err != nil {
		return err
	}
	info := s.ch.Info()
	if info.ProtocolVersion != ctaphid.ProtocolVersion {
		return fmt.Errorf("CTAPHID protocol version %d, want 2", info.ProtocolVersion)
	}
	return nil
}

func checkNonce(ctx context.Context, s *session) error {
	s.dev.Drain()
	nonce := randBytes(ctaphid.NonceLen)
	if err := s.rawSend(ctaphid.InitPacket(ctaphid.BroadcastCID, ctaphid.CmdInit, ctaphid.NonceLen, nonce)); err != nil {
		return err
	}
	// Answers to other applications' INITs carry their nonces: skip them.
	var others [][]byte
	deadline := time.Now().Add(rawWait)
	for {
		m, _, err := s.rawRecv(ctx, ctaphid.BroadcastCID, time.Until(deadline))
		if err != nil {
			if len(others) > 0 {
				return fmt.Errorf("no INIT response echoed nonce %x (got %x)", nonce, others)
			}
			return fmt.Errorf("INIT: %w", err)
		}
		if m.Cmd != ctaphid.CmdInit {
			return fmt.Errorf("INIT answered with %v", m.Cmd)
		}
		r, err := ctaphid.ParseInitResponse(m.Data)
		if err != nil {
			return err
		}
		if !bytes.Equal(r.Nonce[:], nonce) {
			others = append(others, r.Nonce[:])
			continue
		}
		if r.CID == 0 || r.CID == ctaphid.BroadcastCID {
			return fmt.Errorf("INIT allocated reserved channel %08x", r.CID)
		}
		return nil
	}
}

func checkPing(n int) func(context.Context, *session) error {
	return func(ctx context.Context, s *session) error {
		data := randBytes(n)
		return s.ch.Ping(ctx, data)
	}
}

func checkTooLong(ctx context.Context, s *session) error {
	s.dev.Drain()
	cid := s.ch.CID()
	if err := s.rawSend(ctaphid.InitPacket(cid, ctaphid.CmdPing, ctaphid.MaxMessageSize+1, randBytes(ctaphid.InitDataLen))); err != nil {
		return err
	}
	m, _, err := s.rawRecv(ctx, cid, rawWait)
	if err != nil {
		return err
	}
	return expectHIDError(m, ctaphid.ErrInvalidLen)
}

func checkBadSeq(ctx context.Context, s *session) error {
	s.dev.Drain()
	cid := s.ch.CID()
	pk := ctaphid.Fragment(cid, ctaphid.CmdPing, randBytes(200)) // init + 3 continuation packets
	if err := s.rawSend(pk[0], pk[2]); err != nil {
		return err
	}
	m, _, err := s.rawRecv(ctx, cid, rawWait)
	if err != nil {
		return err
	}
	if err := expectHIDError(m, ctaphid.ErrInvalidSeq); err != nil {
		return err
	}
	s.dev.Drain()
	if err := s.ch.Ping(ctx, []byte("after")); err != nil {
		return fmt.Errorf("channel unusable after the error: %w", err)
	}
	return nil
}

func checkBadChannel(ctx context.Context, s *session) error {
	s.dev.Drain()
	if err := s.rawSend(ctaphid.InitPacket(ctaphid.BroadcastCID, ctaphid.CmdPing, 1, []byte{1})); err != nil {
		return err
	}
	m, _, err := s.rawRecv(ctx, ctaphid.BroadcastCID, rawWait)
	if err != nil {
		return err
	}
	return expectHIDError(m, ctaphid.ErrInvalidChannel)
}

func checkBusy(ctx context.Context, s *session) error {
	other, err := s.dev.Open(ctx)
	if err != nil {
		return fmt.Errorf("second channel: %w", err)
	}
	if other.CID() == s.ch.CID() {
		return fmt.Errorf("second INIT allocated the same channel %08x", other.CID())
	}
	s.dev.Drain()
	a := s.ch.CID()
	payload := randBytes(100)
	pk := ctaphid.Fragment(a, ctaphid.CmdPing, payload)
	if err := s.rawSend(pk[0]); err != nil {
		return err
	}
	if err := s.rawSend(ctaphid.InitPacket(other.CID(), ctaphid.CmdPing, 1, []byte{7})); err != nil {
		return err
	}
	m, _, err := s.rawRecv(ctx, other.CID(), rawWait)
	if err != nil {
		return fmt.Errorf("other channel: %w", err)
	}
	busyErr := expectHIDError(m, ctaphid.ErrChannelBusy)
	s.rawSend(pk[1])
	m, _, err = s.rawRecv(ctx, a, rawWait)
	if err != nil {
		return fmt.Errorf("first channel: %w", err)
	}
	if busyErr != nil {
		return busyErr
	}
	if m.Cmd != ctaphid.CmdPing || !bytes.Equal(m.Data, payload) {
		return errors.New("the interrupted transaction did not complete with its echo")
	}
	return nil
}

func checkMsgTimeout(ctx context.Context, s *session) error {
	s.dev.Drain()
	cid := s.ch.CID()
	pk := ctaphid.Fragment(cid, ctaphid.CmdPing, randBytes(100))
	if err := s.rawSend(pk[0]); err != nil { // and never the continuation
		return err
	}
	m, _, err := s.rawRecv(ctx, cid, 5*time.Second)
	if err != nil {
		return fmt.Errorf("no ERR_MSG_TIMEOUT within 5 s: %w", err)
	}
	return expectHIDError(m, ctaphid.ErrMsgTimeout)
}

func checkLock(ctx context.Context, s *session) error {
	// The other channel is allocated first: while locked, even INIT on
	// the broadcast channel may be refused (§11.2.9.2.2).
	other, err := s.dev.Open(ctx)
	if err != nil {
		return fmt.Errorf("second channel: %w", err)
	}
	err = s.ch.Lock(ctx, time.Second*2)
	if errors.Is(err, ctaphid.ErrInvalidCmd) {
		return skipf("LOCK not implemented (optional)")
	}
	if err != nil {
		return fmt.Errorf("LOCK: %w", err)
	}
	busy := other.Ping(ctx, []byte("locked?"))
	if err := s.ch.Lock(ctx, 0); err != nil {
		return fmt.Errorf("LOCK 0 (release): %w", err)
	}
	if !errors.Is(busy, ctaphid.ErrChannelBusy) {
		return fmt.Errorf("another channel while locked: got %v, want ERR_CHANNEL_BUSY", busy)
	}
	if err := other.Ping(ctx, []byte("unlocked")); err != nil {
		return fmt.Errorf("another channel after release: %w", err)
	}
	return nil
}

func checkUnknownCmd(ctx context.Context, s *session) error {
	s.dev.Drain()
	cid := s.ch.CID()
	if err := s.rawSend(ctaphid.InitPacket(cid, ctaphid.Cmd(0xAA), 0, nil)); err != nil {
		return err
	}
	m, _, err := s.rawRecv(ctx, cid, rawWait)
	if err != nil {
		return err
	}
	return expectHIDError(m, ctaphid.ErrInvalidCmd)
}

func checkWink(ctx context.Context, s *session) error {
	if s.ch.Info().Capabilities&ctaphid.CapWink == 0 {
		return skipf("no WINK capability")
	}
	return s.ch.Wink(ctx)
}

// waitingRequest sends a makeCredential that waits for a touch that does
// not come, and returns the channel it waits on. release ends the hold.
func (s *session) waitingRequest(ctx context.Context) (cid uint32, release func(), err error) {
	if !s.t.simulated() {
		s.prompt("do NOT touch your key for the next few seconds")
	} else if s.t.HoldTouch == nil {
		return 0, nil, skipf("the simulation cannot withhold a touch (no HoldTouch hook)")
	}
	if s.t.HoldTouch != nil {
		s.t.HoldTouch(true)
	}
	release = func() {
		if s.t.HoldTouch != nil {
			s.t.HoldTouch(false)
		}
	}
	req, err := s.mcRequest(ctx, false, ctap.UserEntity{ID: []byte("battery-cancel"), Name: "cancel"})
	if err != nil {
		release()
		return 0, nil, err
	}
	body, err := ctap.Marshal(req)
	if err != nil {
		release()
		return 0, nil, err
	}
	s.dev.Drain()
	cid = s.ch.CID()
	if err := s.rawSend(ctaphid.Fragment(cid, ctaphid.CmdCBOR, append([]byte{byte(ctap.CmdMakeCredential)}, body...))...); err != nil {
		release()
		return 0, nil, err
	}
	return cid, release, nil
}

// awaitKeepalive reads the waiting request's packets until a KEEPALIVE
// with status want arrives (true), or wait passes (false). Any answer
// meanwhile is an error: nobody touched the key.
func (s *session) awaitKeepalive(ctx context.Context, cid uint32, want ctaphid.KeepaliveStatus, wait time.Duration) (bool, []ctaphid.KeepaliveStatus, error) {
	var kas []ctaphid.KeepaliveStatus
	deadline := time.Now().Add(wait)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false, kas, nil
		}
		p, err := s.dev.ReadPacket(ctx, left)
		if errors.Is(err, ctaphid.ErrTimeout) {
			return false, kas, nil
		}
		if err != nil {
			return false, kas, err
		}
		if p.CID() != cid || !p.IsInit() {
			continue
		}
		if p.Cmd() != ctaphid.CmdKeepalive {
			return false, kas, fmt.Errorf("request answered (%v) while no touch was given", p.Cmd())
		}
		st := ctaphid.KeepaliveStatus(p[ctaphid.InitHeaderLen])
		kas = append(kas, st)
		if st == want {
			return true, kas, nil
		}
	}
}

func checkKeepalive(ctx context.Context, s *session) error {
	cid, release, err := s.waitingRequest(ctx)
	if err != nil {
		return err
	}
	defer release()
	ok, kas, err := s.awaitKeepalive(ctx, cid, ctaphid.StatusUPNeeded, 1500*time.Millisecond)
	s.ch.Cancel()
	s.rawRecv(ctx, cid, rawWait) // the cancelled answer
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no KEEPALIVE UPNEEDED in 1.5 s (got %v)", kas)
	}
	return nil
}

func checkCancel(ctx context.Context, s *session) error {
	cid, release, err := s.waitingRequest(ctx)
	if err != nil {
		return err
	}
	defer release()
	// Cancel once the key shows it is waiting (or after 1 s without a sign).
	if _, _, err := s.awaitKeepalive(ctx, cid, ctaphid.StatusUPNeeded, time.Second); err != nil {
		return err
	}
	if err := s.ch.Cancel(); err != nil {
		return err
	}
	m, _, err := s.rawRecv(ctx, cid, 3*time.Second)
	if err != nil {
		return fmt.Errorf("no answer after CANCEL: %w", err)
	}
	if m.Cmd != ctaphid.CmdCBOR || len(m.Data) < 1 {
		return fmt.Errorf("after CANCEL: got %v", m.Cmd)
	}
	if st := ctap.Status(m.Data[0]); st != ctap.ErrKeepaliveCancel {
		return fmt.Errorf("after CANCEL: got %s, want %s", st.String(), ctap.ErrKeepaliveCancel.String())
	}
	return nil
}

// --- getInfo ---

func checkInfoGet(ctx context.Context, s *session) error {
	info, err := s.client.GetInfo(ctx)
	if err != nil {
		return err
	}
	s.info = info
	s.proto = ctap.PreferredProtocol(info)
	s.client.UseInfo(info)
	if info.Options[ctap.OptClientPIN] && s.opts.PIN != "" {
		s.pin = s.opts.PIN
	}
	return nil
}

func checkInfoVersions(_ context.Context, s *session) error {
	if slices.Contains(s.info.Versions, ctap.VersionFIDO20) || slices.Contains(s.info.Versions, ctap.VersionFIDO21) {
		return nil
	}
	return fmt.Errorf("versions %v lack FIDO_2_0 and FIDO_2_1", s.info.Versions)
}

func checkInfoAAGUID(_ context.Context, s *session) error {
	if len(s.info.AAGUID) != 16 {
		return fmt.Errorf("AAGUID of %d bytes", len(s.info.AAGUID))
	}
	if bytes.Equal(s.info.AAGUID, make([]byte, 16)) {
		return errors.New("AAGUID is all zero")
	}
	return nil
}

func checkInfoOptions(_ context.Context, s *session) error {
	o := s.info.Options
	if o[ctap.OptPlat] {
		return errors.New(`"plat" is true for a roaming key`)
	}
	if up, ok := o[ctap.OptUP]; ok && !up {
		return errors.New(`"up" is false`)
	}
	if _, ok := o[ctap.OptRK]; !ok {
		return errors.New(`"rk" is missing`)
	}
	return nil
}

func checkInfoProtocols(_ context.Context, s *session) error {
	if _, ok := s.info.Options[ctap.OptClientPIN]; !ok {
		return skipf("no clientPin support")
	}
	if s.proto == nil {
		return fmt.Errorf("clientPin offered but pinUvAuthProtocols %v has neither 1 nor 2", s.info.PinUvAuthProtocols)
	}
	return nil
}

func checkInfoMsgSize(_ context.Context, s *session) error {
	if s.info.MaxMsgSize == 0 {
		return skipf("maxMsgSize absent (1024 assumed)")
	}
	if s.info.MaxMsgSize < 1024 {
		return fmt.Errorf("maxMsgSize %d < 1024", s.info.MaxMsgSize)
	}
	return nil
}

func checkInfoAlgorithms(_ context.Context, s *session) error {
	if len(s.info.Algorithms) == 0 {
		return skipf("algorithms absent (ES256 assumed)")
	}
	for _, a := range s.info.Algorithms {
		if a.Alg == cose.AlgES256 && a.Type == ctap.CredentialTypePublicKey {
			return nil
		}
	}
	return fmt.Errorf("algorithms %v lack ES256", s.info.Algorithms)
}

// --- PIN ---

func checkPINSet(ctx context.Context, s *session) error {
	set, supported := s.info.Options[ctap.OptClientPIN]
	if !supported {
		return skipf("no clientPin support")
	}
	if set {
		if s.pin == "" {
			return skipf("the key already has a PIN: pass it with --pin")
		}
		return skipf("the key already has a PIN")
	}
	pin := s.opts.PIN
	if pin == "" {
		if !s.t.simulated() {
			return skipf("no --pin given: not setting a PIN the owner would not know")
		}
		pin = DefaultPIN
	}
	if err := s.client.SetPIN(ctx, s.proto, pin); err != nil {
		return err
	}
	s.pin = pin
	info, err := s.client.GetInfo(ctx)
	if err != nil {
		return err
	}
	s.info = info
	if !info.Options[ctap.OptClientPIN] {
		return errors.New(`getInfo still says "clientPin": false after setPIN`)
	}
	n, _, err := s.client.PINRetries(ctx)
	if err != nil {
		return err
	}
	if n <= 0 {
		return fmt.Errorf("%d PIN retries after setPIN", n)
	}
	return nil
}

func checkPINSetAgain(ctx context.Context, s *session) error {
	if !s.hasOption(ctap.OptClientPIN) {
		return skipf("no PIN set")
	}
	return expectStatus(s.client.SetPIN(ctx, s.proto, "56785678"), ctap.ErrNotAllowed)
}

func checkToken(v uint) func(context.Context, *session) error {
	return func(ctx context.Context, s *session) error {
		if err := s.needPIN(); err != nil {
			return err
		}
		if !slices.Contains(s.info.PinUvAuthProtocols, v) && !(v == 1 && len(s.info.PinUvAuthProtocols) == 0) {
			return skipf("protocol %d not offered", v)
		}
		p := pinuv.ByVersion(int(v))
		var perms ctap.Permission
		if s.is21() {
			perms = pinuv.PermGetAssertion
		}
		tok, err := s.client.PINToken(ctx, p, s.pin, perms, RPID)
		if err != nil {
			return err
		}
		if v == 2 && len(tok.Token) != 32 {
			return fmt.Errorf("protocol 2 token of %d bytes, want 32", len(tok.Token))
		}
		// The token must work: an assertion check needs a credential,
		// so use it where it is cheapest — a silent getAssertion for an
		// unknown credential must fail with NO_CREDENTIALS, not PIN_AUTH_INVALID.
		cdh := randBytes(32)
		_, err = s.client.GetAssertion(ctx, &ctap.GetAssertionRequest{RPID: RPID, ClientDataHash: cdh,
			AllowList:      []ctap.CredentialDescriptor{{Type: ctap.CredentialTypePublicKey, ID: randBytes(32)}},
			Options:        &ctap.Options{UP: ctap.Bool(false)},
			PinUvAuthParam: tok.Param(cdh), PinUvAuthProtocol: v})
		if ctap.StatusOf(err) == ctap.ErrPINAuthInvalid {
			return errors.New("the token's pinUvAuthParam is refused")
		}
		return nil
	}
}

func checkPINAuthInvalid(ctx context.Context, s *session) error {
	if err := s.needPIN(); err != nil {
		return err
	}
	req, err := s.mcRequest(ctx, false, ctap.UserEntity{ID: []byte("battery-bad-auth"), Name: "bad"})
	if err != nil {
		return err
	}
	req.PinUvAuthParam = randBytes(len(req.PinUvAuthParam))
	_, err = s.client.MakeCredential(ctx, req)
	return expectStatus(err, ctap.ErrPINAuthInvalid)
}

func checkPINPermissions(ctx context.Context, s *session) error {
	if err := s.needPIN(); err != nil {
		return err
	}
	if !s.is21() {
		return skipf("permissions are CTAP 2.1")
	}
	tok, err := s.client.PINToken(ctx, s.proto, s.pin, pinuv.PermGetAssertion, RPID)
	if err != nil {
		return err
	}
	cdh := randBytes(32)
	_, err = s.client.MakeCredential(ctx, &ctap.MakeCredentialRequest{ClientDataHash: cdh,
		RP: ctap.RPEntity{ID: RPID}, User: ctap.UserEntity{ID: []byte("battery-perm"), Name: "perm"}, PubKeyCredParams: es256(),
		PinUvAuthParam: tok.Param(cdh), PinUvAuthProtocol: uint(s.proto.Version())})
	return expectStatus(err, ctap.ErrPINAuthInvalid, ctap.ErrUnauthorizedPermission)
}

// wrongPIN returns a PIN that is not s.pin.
func (s *session) wrongPIN() string {
	if s.pin == "0000000" {
		return "1111111"
	}
	return "0000000"
}

func checkPINWrong(ctx context.Context, s *session) error {
	if err := s.needPIN(); err != nil {
		return err
	}
	before, _, err := s.client.PINRetries(ctx)
	if err != nil {
		return err
	}
	if before <= 3 {
		return skipf("only %d PIN retries left: not risking a blocked PIN", before)
	}
	_, err = s.client.PINToken(ctx, s.proto, s.wrongPIN(), 0, "")
	if e := expectStatus(err, ctap.ErrPINInvalid); e != nil {
		return fmt.Errorf("wrong PIN: %v", e)
	}
	after, _, err := s.client.PINRetries(ctx)
	if err != nil {
		return err
	}
	if after != before-1 {
		return fmt.Errorf("retries %d after a wrong PIN, were %d", after, before)
	}
	if _, err := s.freshToken(ctx, pinuv.PermGetAssertion); err != nil {
		return fmt.Errorf("right PIN after a wrong one: %w", err)
	}
	restored, _, err := s.client.PINRetries(ctx)
	if err != nil {
		return err
	}
	if restored != before {
		return fmt.Errorf("retries %d after the right PIN, want %d again", restored, before)
	}
	return nil
}

func checkPINChange(ctx context.Context, s *session) error {
	if err := s.needPIN(); err != nil {
		return err
	}
	newPIN := "24682468"
	if s.pin == newPIN {
		newPIN = "13571357"
	}
	if err := s.client.ChangePIN(ctx, s.proto, s.pin, newPIN); err != nil {
		return err
	}
	old := s.pin
	s.pin = newPIN
	if _, err := s.freshToken(ctx, pinuv.PermGetAssertion); err != nil {
		return fmt.Errorf("the new PIN does not work: %w", err)
	}
	if err := s.client.ChangePIN(ctx, s.proto, newPIN, old); err != nil {
		return fmt.Errorf("changing the PIN back: %w", err)
	}
	s.pin = old
	if _, err := s.freshToken(ctx, pinuv.PermGetAssertion); err != nil {
		return fmt.Errorf("the PIN changed back does not work: %w", err)
	}
	return nil
}

func checkPINBlocked(ctx context.Context, s *session) error {
	if err := s.needPIN(); err != nil {
		return err
	}
	before, _, err := s.client.PINRetries(ctx)
	if err != nil {
		return err
	}
	if before <= 4 {
		return skipf("only %d PIN retries left: not risking a blocked PIN", before)
	}
	// Start from a fresh boot: mismatches are counted since power-up.
	if err := s.powerCycle(ctx); err != nil {
		return err
	}
	for i := 1; i <= 3; i++ {
		_, err := s.client.PINToken(ctx, s.proto, s.wrongPIN(), 0, "")
		want := ctap.ErrPINInvalid
		if i == 3 {
			want = ctap.ErrPINAuthBlocked
		}
		if e := expectStatus(err, want); e != nil {
			return fmt.Errorf("wrong PIN #%d: %v", i, e)
		}
	}
	_, err = s.client.PINToken(ctx, s.proto, s.pin, 0, "")
	if e := expectStatus(err, ctap.ErrPINAuthBlocked); e != nil {
		return fmt.Errorf("right PIN before the power cycle: %v", e)
	}
	if err := s.powerCycle(ctx); err != nil {
		return err
	}
	if _, err := s.freshToken(ctx, pinuv.PermGetAssertion); err != nil {
		return fmt.Errorf("right PIN after the power cycle: %w", err)
	}
	after, _, err := s.client.PINRetries(ctx)
	if err != nil {
		return err
	}
	if after != before {
		return fmt.Errorf("retries %d after the right PIN, want %d", after, before)
	}
	return nil
}

// --- makeCredential ---

func checkMCES256(ctx context.Context, s *session) error {
	c, resp, cdh, err := s.makeCred(ctx, false, ctap.UserEntity{ID: []byte("battery-user-0"), Name: "battery0", DisplayName: "Battery 0"})
	if err != nil {
		return err
	}
	ad, _ := ctap.ParseAuthData(resp.AuthData)
	if ad.Flags&ctap.FlagUP == 0 {
		return fmt.Errorf("flags %v lack UP", ad.Flags)
	}
	if ad.RPIDHash != ctap.RPIDHash(RPID) {
		return errors.New("rpIdHash is not SHA-256 of the RP ID")
	}
	if c.pub.Alg != cose.AlgES256 || c.pub.Kty != cose.KtyEC2 || c.pub.Crv != cose.CrvP256 {
		return fmt.Errorf("credential key is %v kty %d crv %d, want ES256 EC2 P-256", c.pub.Alg, c.pub.Kty, c.pub.Crv)
	}
	if _, err := c.pub.Public(); err != nil {
		return err
	}
	s.cred = c
	s.mcResp, s.mcCDH = resp, cdh
	return nil
}

func checkMCAttestation(_ context.Context, s *session) error {
	att, err := ctap.VerifyAttestation(s.mcResp, s.mcCDH, RPID)
	if err != nil {
		return err
	}
	if att.Type == "none" {
		return skipf(`fmt "none": nothing to verify`)
	}
	return nil
}

func checkMCEdDSA(ctx context.Context, s *session) error {
	listed := false
	for _, a := range s.info.Algorithms {
		listed = listed || a.Alg == cose.AlgEdDSA
	}
	if !listed {
		return skipf("EdDSA not in getInfo algorithms")
	}
	req, err := s.mcRequest(ctx, false, ctap.UserEntity{ID: []byte("battery-eddsa"), Name: "eddsa"})
	if err != nil {
		return err
	}
	req.PubKeyCredParams = []ctap.CredentialParam{{Type: ctap.CredentialTypePublicKey, Alg: cose.AlgEdDSA}}
	var resp *ctap.MakeCredentialResponse
	if err := s.touch(func() (e error) { resp, e = s.client.MakeCredential(ctx, req); return }); err != nil {
		return err
	}
	att, err := ctap.VerifyAttestation(resp, req.ClientDataHash, RPID)
	if err != nil {
		return err
	}
	key := &att.AuthData.Attested.PublicKey
	if key.Alg != cose.AlgEdDSA || key.Kty != cose.KtyOKP || key.Crv != cose.CrvEd25519 {
		return fmt.Errorf("credential key is %v kty %d crv %d, want EdDSA OKP Ed25519", key.Alg, key.Kty, key.Crv)
	}
	ga, cdh, err := s.assert(ctx, RPID, [][]byte{att.AuthData.Attested.CredentialID}, nil, false)
	if err != nil {
		return err
	}
	_, err = ctap.VerifyAssertion(key, ga, cdh, RPID)
	return err
}

func checkMCRK(ctx context.Context, s *session) error {
	if !s.hasOption(ctap.OptRK) {
		return skipf("no discoverable credential support")
	}
	for i := 1; i <= 2; i++ {
		u := ctap.UserEntity{ID: []byte(fmt.Sprintf("battery-rk-%d", i)), Name: fmt.Sprintf("rk%d", i), DisplayName: fmt.Sprintf("RK %d", i)}
		c, resp, cdh, err := s.makeCred(ctx, true, u)
		if err != nil {
			return err
		}
		if _, err := ctap.VerifyAttestation(resp, cdh, RPID); err != nil {
			return err
		}
		s.rk = append(s.rk, c)
	}
	return nil
}

func checkMCExclude(ctx context.Context, s *session) error {
	req, err := s.mcRequest(ctx, false, ctap.UserEntity{ID: []byte("battery-user-0"), Name: "battery0"})
	if err != nil {
		return err
	}
	req.ExcludeList = []ctap.CredentialDescriptor{
		{Type: ctap.CredentialTypePublicKey, ID: randBytes(32)},
		{Type: ctap.CredentialTypePublicKey, ID: s.cred.id},
	}
	err = s.touch(func() error { _, e := s.client.MakeCredential(ctx, req); return e })
	return expectStatus(err, ctap.ErrCredentialExcluded)
}

func checkMCBadAlg(ctx context.Context, s *session) error {
	req, err := s.mcRequest(ctx, false, ctap.UserEntity{ID: []byte("battery-alg"), Name: "alg"})
	if err != nil {
		return err
	}
	req.PubKeyCredParams = []ctap.CredentialParam{{Type: ctap.CredentialTypePublicKey, Alg: -9999}}
	_, err = s.client.MakeCredential(ctx, req)
	return expectStatus(err, ctap.ErrUnsupportedAlgorithm)
}

func checkMCMissing(ctx context.Context, s *session) error {
	body := map[int]any{
		2: map[string]any{"id": RPID},
		3: map[string]any{"id": []byte("battery-missing"), "name": "missing"},
		4: []map[string]any{{"type": "public-key", "alg": -7}},
	}
	b, err := ctap.Marshal(body)
	if err != nil {
		return err
	}
	st, _, err := s.client.Raw(ctx, ctap.CmdMakeCredential, b)
	if err != nil {
		return err
	}
	if st != ctap.ErrMissingParameter {
		return fmt.Errorf("got %s, want %s", st.String(), ctap.ErrMissingParameter.String())
	}
	return nil
}

func checkMCInvalidCBOR(ctx context.Context, s *session) error {
	st, _, err := s.client.Raw(ctx, ctap.CmdMakeCredential, []byte{0xa1, 0x01})
	if err != nil {
		return err
	}
	if st != ctap.ErrInvalidCBOR && st != ctap.ErrCBORUnexpectedType {
		return fmt.Errorf("got %s, want %s", st.String(), ctap.ErrInvalidCBOR.String())
	}
	return nil
}

func checkMCPUATRequired(ctx context.Context, s *session) error {
	if !s.hasOption(ctap.OptClientPIN) {
		return skipf("no PIN set")
	}
	if !s.hasOption(ctap.OptRK) {
		return skipf("no discoverable credential support")
	}
	req := &ctap.MakeCredentialRequest{ClientDataHash: randBytes(32), RP: ctap.RPEntity{ID: RPID},
		User: ctap.UserEntity{ID: []byte("battery-puat"), Name: "puat"}, PubKeyCredParams: es256(),
		Options: &ctap.Options{RK: ctap.Bool(true)}}
	err := s.touch(func() error { _, e := s.client.MakeCredential(ctx, req); return e })
	return expectStatus(err, ctap.ErrPUATRequired)
}

// --- getAssertion ---

func checkGAAllowList(ctx context.Context, s *session) error {
	resp, cdh, err := s.assert(ctx, RPID, [][]byte{s.cred.id}, nil, false)
	if err != nil {
		return err
	}
	if resp.Credential != nil && !bytes.Equal(resp.Credential.ID, s.cred.id) {
		return errors.New("answered with another credential")
	}
	ad, err := ctap.VerifyAssertion(s.cred.pub, resp, cdh, RPID)
	if err != nil {
		return err
	}
	if ad.Flags&ctap.FlagUP == 0 {
		return fmt.Errorf("flags %v lack UP", ad.Flags)
	}
	return nil
}

func checkGAUnknown(ctx context.Context, s *session) error {
	_, _, err := s.assert(ctx, RPID, [][]byte{randBytes(48)}, nil, false)
	return expectStatus(err, ctap.ErrNoCredentials)
}

func checkGAWrongRP(ctx context.Context, s *session) error {
	_, _, err := s.assert(ctx, "other."+RPID, [][]byte{s.cred.id}, nil, false)
	return expectStatus(err, ctap.ErrNoCredentials)
}

// signed is an assertion whose signature is checked after its fields.
type signed struct {
	resp *ctap.GetAssertionResponse
	cdh  []byte
	ad   *ctap.AuthData
}

// assertAD gets an assertion and parses its authenticator data; verify
// checks the signature afterwards, so a check reports the field it is
// about before a signature that may be broken along with it.
func (s *session) assertAD(ctx context.Context, opts *ctap.Options, uv bool) (*signed, error) {
	resp, cdh, err := s.assert(ctx, RPID, [][]byte{s.cred.id}, opts, uv)
	if err != nil {
		return nil, err
	}
	ad, err := ctap.ParseAuthData(resp.AuthData)
	if err != nil {
		return nil, err
	}
	return &signed{resp, cdh, ad}, nil
}

func (s *session) verify(as ...*signed) error {
	for _, a := range as {
		if _, err := ctap.VerifyAssertion(s.cred.pub, a.resp, a.cdh, RPID); err != nil {
			return err
		}
	}
	return nil
}

func checkGACounter(ctx context.Context, s *session) error {
	a, err := s.assertAD(ctx, nil, false)
	if err != nil {
		return err
	}
	b, err := s.assertAD(ctx, nil, false)
	if err != nil {
		return err
	}
	if b.ad.SignCount <= a.ad.SignCount {
		return fmt.Errorf("signature counter went %d → %d", a.ad.SignCount, b.ad.SignCount)
	}
	return s.verify(a, b)
}

func checkGAUP(ctx context.Context, s *session) error {
	silent, err := s.assertAD(ctx, &ctap.Options{UP: ctap.Bool(false)}, false)
	if err != nil {
		return fmt.Errorf("up=false: %w", err)
	}
	if silent.ad.Flags&ctap.FlagUP != 0 {
		return fmt.Errorf("up=false: flags %v have UP", silent.ad.Flags)
	}
	touched, err := s.assertAD(ctx, nil, false)
	if err != nil {
		return err
	}
	if touched.ad.Flags&ctap.FlagUP == 0 {
		return fmt.Errorf("after a touch: flags %v lack UP", touched.ad.Flags)
	}
	return s.verify(silent, touched)
}

func checkGAUV(ctx context.Context, s *session) error {
	if err := s.needPIN(); err != nil {
		return err
	}
	with, err := s.assertAD(ctx, nil, true)
	if err != nil {
		return fmt.Errorf("with pinUvAuthParam: %w", err)
	}
	if with.ad.Flags&ctap.FlagUV == 0 {
		return fmt.Errorf("with pinUvAuthParam: flags %v lack UV", with.ad.Flags)
	}
	without, err := s.assertAD(ctx, nil, false)
	if err != nil {
		return fmt.Errorf("without pinUvAuthParam: %w", err)
	}
	if without.ad.Flags&ctap.FlagUV != 0 {
		return fmt.Errorf("without pinUvAuthParam: flags %v have UV", without.ad.Flags)
	}
	return s.verify(with, without)
}

func (s *session) rkByID(id []byte) *madeCred {
	for _, c := range s.rk {
		if bytes.Equal(c.id, id) {
			return c
		}
	}
	return nil
}

func (s *session) checkDiscovered(resp *ctap.GetAssertionResponse, cdh []byte) (*madeCred, error) {
	if resp.Credential == nil {
		return nil, errors.New("no credential in the answer")
	}
	c := s.rkByID(resp.Credential.ID)
	if c == nil {
		return nil, nil // another discoverable credential of the RP (from an earlier run)
	}
	if _, err := ctap.VerifyAssertion(c.pub, resp, cdh, RPID); err != nil {
		return nil, err
	}
	if resp.User == nil || !bytes.Equal(resp.User.ID, c.user.ID) {
		return nil, errors.New("user id missing or not the credential's")
	}
	return c, nil
}

func checkGADiscoverable(ctx context.Context, s *session) error {
	resp, cdh, err := s.assert(ctx, RPID, nil, nil, s.pin != "")
	if err != nil {
		return err
	}
	if resp.NumberOfCredentials < uint(len(s.rk)) {
		return fmt.Errorf("numberOfCredentials %d, made %d", resp.NumberOfCredentials, len(s.rk))
	}
	c, err := s.checkDiscovered(resp, cdh)
	if err != nil {
		return err
	}
	s.seen = map[string]bool{}
	if c != nil {
		s.seen[string(c.id)] = true
	}
	s.gaCDH, s.gaLeft = cdh, int(resp.NumberOfCredentials)-1
	return nil
}

func checkGANext(ctx context.Context, s *session) error {
	// ga.discoverable just ran: the key holds the remaining assertions.
	if s.gaLeft < 1 {
		return fmt.Errorf("no further credential announced")
	}
	for i := 0; i < s.gaLeft; i++ {
		resp, err := s.client.GetNextAssertion(ctx)
		if err != nil {
			return fmt.Errorf("getNextAssertion #%d: %w", i+1, err)
		}
		c, err := s.checkDiscovered(resp, s.gaCDH)
		if err != nil {
			return fmt.Errorf("getNextAssertion #%d: %w", i+1, err)
		}
		if c != nil {
			if s.seen[string(c.id)] {
				return fmt.Errorf("getNextAssertion #%d repeats a credential", i+1)
			}
			s.seen[string(c.id)] = true
		}
	}
	if len(s.seen) != len(s.rk) {
		return fmt.Errorf("saw %d of the %d discoverable credentials", len(s.seen), len(s.rk))
	}
	_, err := s.client.GetNextAssertion(ctx)
	if e := expectStatus(err, ctap.ErrNotAllowed); e != nil {
		return fmt.Errorf("getNextAssertion past the last: %v", e)
	}
	return nil
}

func checkGANextAlone(ctx context.Context, s *session) error {
	if _, err := s.client.GetInfo(ctx); err != nil {
		return err
	}
	_, err := s.client.GetNextAssertion(ctx)
	return expectStatus(err, ctap.ErrNotAllowed)
}

// --- U2F ---

func (s *session) u2fSupported() error {
	if s.ch.Info().Capabilities&ctaphid.CapNMSG != 0 {
		return skipf("the key does not implement CTAPHID_MSG (NMSG)")
	}
	return nil
}

func checkU2FVersion(ctx context.Context, s *session) error {
	if err := s.u2fSupported(); err != nil {
		return err
	}
	v, err := s.client.U2FVersion(ctx)
	if err != nil {
		return err
	}
	if v != u2f.Version {
		return fmt.Errorf("version %q, want %q", v, u2f.Version)
	}
	return nil
}

func u2fApp() [32]byte { return sha256.Sum256([]byte("https://" + RPID)) }

func checkU2FRegister(ctx context.Context, s *session) error {
	var chal [32]byte
	copy(chal[:], randBytes(32))
	var r *u2f.RegisterResponse
	err := s.touch(func() error {
		var e error
		r, e = s.client.U2FRegister(ctx, chal, u2fApp())
		return e
	})
	if err != nil {
		return err
	}
	if _, err := ctap.VerifyU2FRegistration(r, chal, u2fApp()); err != nil {
		return err
	}
	s.u2f = r
	return nil
}

func (s *session) u2fAuth(ctx context.Context) (*u2f.AuthenticateResponse, error) {
	var chal [32]byte
	copy(chal[:], randBytes(32))
	var a *u2f.AuthenticateResponse
	err := s.touch(func() error {
		var e error
		a, e = s.client.U2FAuthenticate(ctx, u2f.AuthEnforce, chal, u2fApp(), s.u2f.KeyHandle)
		return e
	})
	if err != nil {
		return nil, err
	}
	if a.UserPresence&1 == 0 {
		return nil, errors.New("user presence bit clear")
	}
	return a, ctap.VerifyU2FAuthentication(a, s.u2f.PublicKey, chal, u2fApp())
}

func checkU2FAuthenticate(ctx context.Context, s *session) error {
	a, errA := s.u2fAuth(ctx)
	if a == nil {
		return errA
	}
	b, errB := s.u2fAuth(ctx)
	if b == nil {
		return errB
	}
	if b.Counter <= a.Counter {
		return fmt.Errorf("counter went %d → %d", a.Counter, b.Counter)
	}
	return errors.Join(errA, errB)
}

func checkU2FCheckOnly(ctx context.Context, s *session) error {
	_, err := s.client.U2FAuthenticate(ctx, u2f.AuthCheckOnly, [32]byte{}, u2fApp(), s.u2f.KeyHandle)
	if !errors.Is(err, u2f.SWConditionsNotSatisfied) {
		return fmt.Errorf("got %v, want %s", err, u2f.SWConditionsNotSatisfied.String())
	}
	return nil
}

func checkU2FBadHandle(ctx context.Context, s *session) error {
	_, err := s.client.U2FAuthenticate(ctx, u2f.AuthCheckOnly, [32]byte{}, u2fApp(), randBytes(64))
	if !errors.Is(err, u2f.SWWrongData) {
		return fmt.Errorf("got %v, want %s", err, u2f.SWWrongData.String())
	}
	return nil
}

// --- credential management ---

func (s *session) cmToken(ctx context.Context) (*ctap.Token, error) {
	if !s.hasOption(ctap.OptCredMgmt) && !s.hasOption(ctap.OptCredMgmtPre) {
		return nil, skipf("no credential management support")
	}
	if err := s.needPIN(); err != nil {
		return nil, err
	}
	perms := pinuv.PermCredentialManagement
	if !s.is21() {
		perms = 0
	}
	return s.client.PINToken(ctx, s.proto, s.pin, perms, "")
}

func checkCMMetadata(ctx context.Context, s *session) error {
	tok, err := s.cmToken(ctx)
	if err != nil {
		return err
	}
	n, _, err := s.client.CredsMetadata(ctx, tok)
	if err != nil {
		return err
	}
	if n < len(s.rk) {
		return fmt.Errorf("%d discoverable credentials counted, the battery made %d", n, len(s.rk))
	}
	s.cmCount = n
	return nil
}

func checkCMRPs(ctx context.Context, s *session) error {
	tok, err := s.cmToken(ctx)
	if err != nil {
		return err
	}
	rps, err := s.client.RPs(ctx, tok)
	if err != nil {
		return err
	}
	h := ctap.RPIDHash(RPID)
	for _, rp := range rps {
		if bytes.Equal(rp.RPIDHash, h[:]) {
			if rp.RP.ID != RPID {
				return fmt.Errorf("RP id %q for the battery's rpIdHash", rp.RP.ID)
			}
			return nil
		}
	}
	return fmt.Errorf("%s not among %d RPs", RPID, len(rps))
}

func checkCMCreds(ctx context.Context, s *session) error {
	tok, err := s.cmToken(ctx)
	if err != nil {
		return err
	}
	h := ctap.RPIDHash(RPID)
	creds, err := s.client.Credentials(ctx, tok, h[:])
	if err != nil {
		return err
	}
	for _, c := range s.rk {
		found := false
		for _, got := range creds {
			if bytes.Equal(got.ID.ID, c.id) {
				found = true
				if !bytes.Equal(got.User.ID, c.user.ID) {
					return errors.New("credential listed with another user id")
				}
				if got.PublicKey != nil && !bytes.Equal(got.PublicKey.X, c.pub.X) {
					return errors.New("credential listed with another public key")
				}
			}
		}
		if !found {
			return fmt.Errorf("credential of %s not listed (%d listed)", c.user.Name, len(creds))
		}
	}
	return nil
}

func checkCMDelete(ctx context.Context, s *session) error {
	tok, err := s.cmToken(ctx)
	if err != nil {
		return err
	}
	n0, _, err := s.client.CredsMetadata(ctx, tok)
	if err != nil {
		return err
	}
	victim := s.rk[0]
	if err := s.client.DeleteCredential(ctx, tok, victim.id); err != nil {
		return err
	}
	n1, _, err := s.client.CredsMetadata(ctx, tok)
	if err != nil {
		return err
	}
	if n1 != n0-1 {
		return fmt.Errorf("%d credentials after deleting one of %d", n1, n0)
	}
	_, _, err = s.assert(ctx, RPID, [][]byte{victim.id}, &ctap.Options{UP: ctap.Bool(false)}, false)
	if e := expectStatus(err, ctap.ErrNoCredentials); e != nil {
		return fmt.Errorf("deleted credential still usable: %v", e)
	}
	// Leave the key as found: delete the battery's other credentials.
	for _, c := range s.rk[1:] {
		s.client.DeleteCredential(ctx, tok, c.id)
	}
	s.rk = nil
	return nil
}

// --- selection and reset ---

func checkSelection(ctx context.Context, s *session) error {
	if !s.is21() {
		return skipf("authenticatorSelection is CTAP 2.1")
	}
	return s.touch(func() error { return s.client.Selection(ctx) })
}

func checkReset(ctx context.Context, s *session) error {
	// Keys accept reset only within 10 s of power-up (CTAP 2.1 §6.6).
	if err := s.powerCycle(ctx); err != nil {
		return err
	}
	if err := s.touch(func() error { return s.client.Reset(ctx) }); err != nil {
		return err
	}
	info, err := s.client.GetInfo(ctx)
	if err != nil {
		return err
	}
	if info.Options[ctap.OptClientPIN] {
		return errors.New(`"clientPin" still true after reset`)
	}
	if s.cred != nil {
		_, _, err := s.assert(ctx, RPID, [][]byte{s.cred.id}, &ctap.Options{UP: ctap.Bool(false)}, false)
		if e := expectStatus(err, ctap.ErrNoCredentials); e != nil {
			return fmt.Errorf("credential survived reset: %v", e)
		}
	}
	s.info, s.pin = info, ""
	return nil
}
