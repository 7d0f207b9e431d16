package fidofw

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenlab/tokenlab/ctap/ctaphid"
)

// Timing of the device side of CTAPHID.
const (
	// DefaultTransactionTimeout bounds the gap between the packets of one
	// message; past it the device drops the message and answers
	// ERR_MSG_TIMEOUT (CTAP 2.1 §11.2.5).
	DefaultTransactionTimeout = 500 * time.Millisecond
	// KeepaliveInterval is how often a busy channel is sent KEEPALIVE
	// (CTAP 2.1 §11.2.9.1.7: "at least every 100ms").
	KeepaliveInterval = 80 * time.Millisecond
	// maxLockSeconds is the longest CTAPHID_LOCK (CTAP 2.1 §11.2.9.2.2).
	maxLockSeconds = 10
	// maxChannels bounds the allocated channels; the oldest is forgotten
	// when a new one would exceed it.
	maxChannels = 64
)

// Device version reported in the INIT response (major, minor, build).
const (
	VersionMajor = 1
	VersionMinor = 0
	VersionBuild = 0
)

// HID is the device side of CTAPHID (CTAP 2.1 §11.2) in front of an
// [Authenticator]. Feed it every input report with [HID.Receive]; it gives
// every output report to the send function it was made with, one whole
// message at a time. One CBOR or MSG request runs at a time. When the
// user-presence policy answers at once ([Immediate]) the request runs in
// the Receive call that completed it, like a single-threaded key; otherwise
// it runs on a worker goroutine while Receive keeps answering: KEEPALIVE to
// the waiting host, CANCEL, and ERR_CHANNEL_BUSY to the others.
type HID struct {
	auth *Authenticator
	send func(ctaphid.Packet)
	// TransactionTimeout overrides DefaultTransactionTimeout when set
	// before the first Receive.
	TransactionTimeout time.Duration

	sendMu sync.Mutex // one message's packets go out together

	mu       sync.Mutex
	asm      ctaphid.Assembler
	asmGen   uint64 // bumps on every packet that advances the assembler
	timer    *time.Timer
	channels []uint32 // allocated, oldest first
	nextCID  uint32
	lockCID  uint32
	lockTill time.Time
	busy     *txn
	winks    atomic.Int64
	wg       sync.WaitGroup // requests in flight
	work     chan *txn      // to idle workers
	workers  sync.WaitGroup
	quit     chan struct{}
	quitOnce sync.Once
}

// txn is a CBOR or MSG request being processed.
type txn struct {
	cid    uint32
	cancel context.CancelFunc
	ctx    context.Context
	msg    *ctaphid.Message
	inline bool
	status atomic.Uint32 // ctaphid.KeepaliveStatus
	done   chan struct{}
	// aborted is set when INIT resynchronised the channel: the answer is
	// dropped.
	aborted atomic.Bool
}

// NewHID returns the CTAPHID device side of a. send is called with each
// output report; it must not call back into the HID.
func NewHID(a *Authenticator, send func(ctaphid.Packet)) *HID {
	return &HID{auth: a, send: send, nextCID: 1, work: make(chan *txn), quit: make(chan struct{})}
}

// Winks reports how many CTAPHID_WINK requests the device has obeyed.
func (h *HID) Winks() int64 { return h.winks.Load() }

func (h *HID) txTimeout() time.Duration {
	if h.TransactionTimeout > 0 {
		return h.TransactionTimeout
	}
	return DefaultTransactionTimeout
}

// Receive handles one input report (64 bytes; a shorter one is padded with
// zeros, extra bytes are ignored, as a HID report has a fixed size).
func (h *HID) Receive(report []byte) {
	var p ctaphid.Packet
	copy(p[:], report)
	h.mu.Lock()
	started := h.receive(&p)
	inline := started != nil && started.inline
	h.mu.Unlock()
	if inline {
		// The user answers at once: run the request here, as a
		// single-threaded key would, with no handoff to a worker.
		h.process(started)
		return
	}
	if started != nil {
		// Let a fast request finish before returning: the host that
		// wrote it reads the answer without waiting on the scheduler,
		// and a request waiting for the user goes on in the background.
		t := time.NewTimer(answerWait)
		select {
		case <-started.done:
		case <-t.C:
		}
		t.Stop()
	}
}

// answerWait is how long Receive waits for a request it started.
const answerWait = 50 * time.Millisecond

// receive handles one packet; it returns the transaction it started, if any.
func (h *HID) receive(p *ctaphid.Packet) *txn {
	cid := p.CID()
	now := time.Now()
	if h.busy != nil && p.IsInit() {
		b := h.busy
		switch {
		case cid == b.cid && p.Cmd() == ctaphid.CmdCancel:
			// §11.2.9.1.5: cancel the outstanding request; its answer
			// will be CTAP2_ERR_KEEPALIVE_CANCEL.
			b.cancel()
			return nil
		case cid == b.cid && p.Cmd() == ctaphid.CmdInit:
			// §11.2.9.1.3: INIT on the busy channel aborts its
			// transaction; fall through to handle the INIT.
			b.aborted.Store(true)
			b.cancel()
			h.busy = nil
		case cid == ctaphid.BroadcastCID && p.Cmd() == ctaphid.CmdInit:
			// Allocating a channel does not touch the running request.
		case p.Cmd() == ctaphid.CmdCancel:
			return nil // a cancel for nothing running on that channel
		default:
			h.sendError(cid, ctaphid.ErrChannelBusy)
			return nil
		}
	}
	if p.IsInit() && h.lockCID != 0 && cid != h.lockCID && now.Before(h.lockTill) {
		// §11.2.9.2.2: while locked, other channels are busy.
		h.sendError(cid, ctaphid.ErrChannelBusy)
		return nil
	}
	msg, err := h.asm.Add(p[:])
	if err != nil {
		if pe, ok := err.(*ctaphid.PacketError); ok {
			h.sendError(pe.CID, pe.Code)
		}
		return nil
	}
	h.asmGen++
	if msg == nil {
		if pcid, pending := h.asm.Pending(); pending {
			h.armTimeout(pcid)
		}
		return nil
	}
	if h.timer != nil {
		h.timer.Stop()
	}
	return h.dispatch(msg)
}

// armTimeout starts the transaction timer for the message being assembled
// on cid: if no further packet arrives in time, the message is dropped with
// ERR_MSG_TIMEOUT.
func (h *HID) armTimeout(cid uint32) {
	if h.timer != nil {
		h.timer.Stop()
	}
	gen := h.asmGen
	h.timer = time.AfterFunc(h.txTimeout(), func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.asmGen != gen {
			return
		}
		if pc, ok := h.asm.Pending(); ok && pc == cid {
			h.asm.Reset()
			h.sendError(cid, ctaphid.ErrMsgTimeout)
		}
	})
}

func (h *HID) allocated(cid uint32) bool {
	for _, c := range h.channels {
		if c == cid {
			return true
		}
	}
	return false
}

func (h *HID) allocate() uint32 {
	for {
		cid := h.nextCID
		h.nextCID++
		if cid == 0 || cid == ctaphid.BroadcastCID || h.allocated(cid) {
			continue
		}
		if len(h.channels) >= maxChannels {
			h.channels = h.channels[1:]
		}
		h.channels = append(h.channels, cid)
		return cid
	}
}

func (h *HID) dispatch(m *ctaphid.Message) *txn {
	if m.CID != ctaphid.BroadcastCID && !h.allocated(m.CID) {
		h.sendError(m.CID, ctaphid.ErrInvalidChannel)
		return nil
	}
	switch m.Cmd {
	case ctaphid.CmdInit:
		if len(m.Data) != ctaphid.NonceLen {
			h.sendError(m.CID, ctaphid.ErrInvalidLen)
			return nil
		}
		r := ctaphid.InitResponse{
			ProtocolVersion: ctaphid.ProtocolVersion,
			Major:           VersionMajor, Minor: VersionMinor, Build: VersionBuild,
			Capabilities: ctaphid.CapWink | ctaphid.CapCBOR,
		}
		copy(r.Nonce[:], m.Data)
		if m.CID == ctaphid.BroadcastCID {
			r.CID = h.allocate()
		} else {
			r.CID = m.CID // resynchronise: same channel, nothing pending
		}
		h.sendMsg(m.CID, ctaphid.CmdInit, r.Marshal())
	case ctaphid.CmdPing:
		h.sendMsg(m.CID, ctaphid.CmdPing, m.Data)
	case ctaphid.CmdWink:
		if len(m.Data) != 0 {
			h.sendError(m.CID, ctaphid.ErrInvalidLen)
			return nil
		}
		h.winks.Add(1)
		h.sendMsg(m.CID, ctaphid.CmdWink, nil)
	case ctaphid.CmdLock:
		if len(m.Data) != 1 {
			h.sendError(m.CID, ctaphid.ErrInvalidLen)
			return nil
		}
		if m.Data[0] > maxLockSeconds {
			h.sendError(m.CID, ctaphid.ErrInvalidPar)
			return nil
		}
		if m.Data[0] == 0 {
			h.lockCID = 0
		} else {
			h.lockCID = m.CID
			h.lockTill = time.Now().Add(time.Duration(m.Data[0]) * time.Second)
		}
		h.sendMsg(m.CID, ctaphid.CmdLock, nil)
	case ctaphid.CmdCancel:
		// Nothing outstanding: CANCEL has no answer (§11.2.9.1.5).
	case ctaphid.CmdCBOR:
		if len(m.Data) == 0 {
			h.sendError(m.CID, ctaphid.ErrInvalidLen)
			return nil
		}
		return h.start(m)
	case ctaphid.CmdMsg:
		return h.start(m)
	default:
		h.sendError(m.CID, ctaphid.ErrInvalidCmd)
	}
	return nil
}

// start runs a CBOR or MSG request in its own goroutine, sending KEEPALIVE
// to its channel while it runs.
func (h *HID) start(m *ctaphid.Message) *txn {
	ctx, cancel := context.WithCancel(context.Background())
	t := &txn{cid: m.CID, cancel: cancel, done: make(chan struct{}), ctx: ctx, msg: m}
	t.status.Store(uint32(ctaphid.StatusProcessing))
	h.busy = t
	h.wg.Add(1)
	if h.auth.presenceImmediate() {
		t.inline = true // Receive runs it once h.mu is released
		return t
	}
	select {
	case h.work <- t: // an idle worker takes it
	default:
		h.workers.Add(1)
		go h.worker(t)
	}
	return t
}

// worker runs requests until the HID is closed. Workers are kept rather
// than started per request: a request's crypto grows a goroutine's stack,
// and a kept worker grows it once.
func (h *HID) worker(t *txn) {
	defer h.workers.Done()
	for {
		h.process(t)
		select {
		case t = <-h.work:
		case <-h.quit:
			return
		}
	}
}

func (h *HID) process(t *txn) {
	defer h.wg.Done()
	defer t.cancel()
	m := t.msg
	var resp []byte
	stop := func() {}
	if !t.inline { // an inline request's host is still in its write
		stop = h.keepalive(t)
	}
	if m.Cmd == ctaphid.CmdCBOR {
		resp = h.auth.HandleCBOR(t.ctx, m.Data, func(s ctaphid.KeepaliveStatus) { t.status.Store(uint32(s)) })
	} else {
		resp = h.auth.HandleAPDU(t.ctx, m.Data)
	}
	stop()
	h.mu.Lock()
	if h.busy == t {
		h.busy = nil
	}
	h.mu.Unlock()
	if !t.aborted.Load() {
		h.sendMsg(m.CID, m.Cmd, resp)
	}
	close(t.done)
}

// keepalive sends KEEPALIVE every KeepaliveInterval until stopped. The
// first one goes out only after an interval, so fast requests send none,
// and no goroutine runs until then.
func (h *HID) keepalive(t *txn) (stop func()) {
	stopped := false
	var tm *time.Timer
	tm = time.AfterFunc(KeepaliveInterval, func() {
		h.sendMu.Lock()
		defer h.sendMu.Unlock()
		if stopped {
			return
		}
		if !t.aborted.Load() {
			h.send(ctaphid.InitPacket(t.cid, ctaphid.CmdKeepalive, 1, []byte{byte(t.status.Load())}))
		}
		tm.Reset(KeepaliveInterval)
	})
	return func() {
		h.sendMu.Lock()
		stopped = true
		tm.Stop()
		h.sendMu.Unlock()
	}
}

func (h *HID) sendError(cid uint32, code ctaphid.ErrCode) {
	h.sendMsg(cid, ctaphid.CmdError, []byte{byte(code)})
}

func (h *HID) sendMsg(cid uint32, cmd ctaphid.Cmd, data []byte) {
	pkts := ctaphid.Fragment(cid, cmd, data)
	if pkts == nil { // longer than CTAPHID can carry: cannot happen for our answers
		pkts = ctaphid.Fragment(cid, ctaphid.CmdError, []byte{byte(ctaphid.ErrOther)})
	}
	h.sendMu.Lock()
	defer h.sendMu.Unlock()
	for _, p := range pkts {
		h.send(p)
	}
}

// PowerCycle models unplugging the key and plugging it back: the running
// request is cancelled without an answer, every channel and lock is
// forgotten, and the authenticator reboots from its flash
// ([Authenticator.PowerCycle]).
func (h *HID) PowerCycle() error {
	h.mu.Lock()
	if b := h.busy; b != nil {
		b.aborted.Store(true)
		b.cancel()
	}
	h.asm.Reset()
	if h.timer != nil {
		h.timer.Stop()
	}
	h.asmGen++
	h.channels = nil
	h.lockCID = 0
	h.busy = nil
	h.mu.Unlock()
	h.wg.Wait()
	return h.auth.PowerCycle()
}

// Close cancels the running request and waits for it; the HID takes no
// more requests.
func (h *HID) Close() {
	h.mu.Lock()
	if b := h.busy; b != nil {
		b.aborted.Store(true)
		b.cancel()
	}
	if h.timer != nil {
		h.timer.Stop()
	}
	h.mu.Unlock()
	h.wg.Wait()
	h.quitOnce.Do(func() { close(h.quit) })
	h.workers.Wait()
}
