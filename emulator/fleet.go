package emulator

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenlab/tokenlab/firmware-sim/hw"
	"github.com/tokenlab/tokenlab/firmware-sim/otpfw"
	"github.com/tokenlab/tokenlab/token"
)

// NoCode marks, in [Fleet.Codes], a token that shows nothing (tampered,
// never provisioned).
const NoCode = math.MaxUint32

// Fleet is a vectorised view of many key fobs: the same firmware semantics
// as a [KeyFob] (the code its drifting clock gives when pressed), stored
// compactly so a million tokens fit in well under 100 MB and their codes
// are computed on every core at once.
//
// Each token is a fixed-size record (its clock state, spec and where its
// key and serial sit) plus its HMAC key and serial in one contiguous byte
// arena; there are no per-token heap objects. A Fleet does not model the
// battery or the display timeout: [Fleet.Codes] is what every token would
// show if pressed at that instant.
//
// Add is not safe for concurrent use; Codes and Code may run concurrently
// with each other once the fleet is built.
type Fleet struct {
	recs  []fleetRec
	arena []byte
}

// fleetRec is one token: 40 bytes. Its arena bytes are the HMAC inner and
// outer key states (40 bytes for SHA-1), then the serial.
type fleetRec struct {
	epochSec  int64 // clock epoch (stuck: the time it stopped at), Unix seconds
	offset    int64 // clock offset, ns
	rate      int64 // drift, 1/hw.RateScale
	off       uint32
	epochNsec uint32
	period    uint16 // seconds
	serialLen uint16
	keyLen    uint8
	alg       uint8
	digits    uint8
	flags     uint8
}

const (
	flagStuck = 1 << iota
	flagDead
)

// NewFleet returns an empty fleet with room for n tokens whose key states
// and serials take about bytesPerToken bytes each ([FleetBytesSHA1] for
// SHA-1 fobs with tokenlab's 12-character serials).
func NewFleet(n, bytesPerToken int) *Fleet {
	n, bytesPerToken = max(n, 0), max(bytesPerToken, 0)
	return &Fleet{recs: make([]fleetRec, 0, n), arena: make([]byte, 0, n*bytesPerToken)}
}

// FleetBytesSHA1 is the arena size of a SHA-1 token with a 12-character
// serial: two 20-byte HMAC key states and the serial.
const FleetBytesSHA1 = 2*sha1.Size + token.AllocatedSerialLen

// Len returns the number of tokens.
func (f *Fleet) Len() int { return len(f.recs) }

// ErrFleetFull is returned when the arena would pass 4 GiB.
var ErrFleetFull = errors.New("emulator: fleet arena full")

func blockSize(a token.Algorithm) int {
	if a == token.SHA512 {
		return sha512.BlockSize
	}
	return sha1.BlockSize // also SHA-256's
}

// Add adds a token with its serial, seed, spec and clock, and returns its
// index.
func (f *Fleet) Add(serial token.Serial, seed token.Seed, spec token.Spec, clock hw.ClockState) (int, error) {
	if _, err := token.ParseSerial(string(serial)); err != nil {
		return 0, err
	}
	if _, err := token.NewSeed(seed); err != nil {
		return 0, err
	}
	if err := spec.Validate(); err != nil {
		return 0, err
	}
	key := []byte(seed)
	if len(key) > blockSize(spec.Algorithm) { // RFC 2104 §2: long keys are hashed first
		h := spec.Algorithm.Hash()()
		h.Write(key)
		key = h.Sum(nil)
		defer clear(key)
	}
	if precomputed() {
		key = hmacStates(spec.Algorithm, key)
		defer clear(key)
	}
	if len(f.arena)+len(key)+len(serial) > math.MaxUint32 {
		return 0, ErrFleetFull
	}
	r := fleetRec{
		offset: int64(clock.Offset), rate: clock.Rate,
		off: uint32(len(f.arena)), keyLen: uint8(len(key)), serialLen: uint16(len(serial)),
		alg: uint8(spec.Algorithm), digits: uint8(spec.Digits), period: uint16(spec.Period / time.Second),
	}
	e := clock.Epoch
	if clock.Stuck {
		e = clock.At
		r.flags |= flagStuck
	}
	r.epochSec, r.epochNsec = e.Unix(), uint32(e.Nanosecond())
	f.arena = append(f.arena, key...)
	f.arena = append(f.arena, serial...)
	f.recs = append(f.recs, r)
	return len(f.recs) - 1, nil
}

// AddToken adds an emulated token (any TOTP model) with its current
// clock. A token that is not provisioned shows [NoCode].
func (f *Fleet) AddToken(t *Token) (int, error) {
	seed, err := otpfw.ExtractSeed(t.Firmware().Flash())
	dead := t.State() != otpfw.Provisioned
	if err != nil {
		if !dead {
			return 0, err
		}
		seed = make(token.Seed, token.MinSeedBytes)
	}
	defer seed.Wipe()
	spec := t.Spec()
	if dead && spec.Validate() != nil {
		spec = token.DefaultSpec // it shows nothing anyway
	}
	i, err := f.Add(t.Serial(), seed, spec, t.Clock().State())
	if err != nil {
		return 0, err
	}
	if dead {
		f.recs[i].flags |= flagDead
	}
	return i, nil
}

// Serial returns token i's serial.
func (f *Fleet) Serial(i int) token.Serial {
	r := &f.recs[i]
	o := int(r.off) + int(r.keyLen)
	return token.Serial(f.arena[o : o+int(r.serialLen)])
}

// Spec returns token i's spec.
func (f *Fleet) Spec(i int) token.Spec {
	r := &f.recs[i]
	return token.Spec{Algorithm: token.Algorithm(r.alg), Digits: int(r.digits), Period: time.Duration(r.period) * time.Second}
}

// Code returns the code token i shows at real instant at, and false if it
// shows none.
func (f *Fleet) Code(i int, at time.Time) (string, bool) {
	r := &f.recs[i]
	v := f.value(newMACWorker(), r, at.Unix(), int64(at.Nanosecond()))
	if v == NoCode {
		return "", false
	}
	return string(token.AppendCode(nil, v, int(r.digits))), true
}

// Codes computes every token's code at real instant at into dst (grown
// to Len), in parallel on GOMAXPROCS goroutines, and returns it. Entry i
// is token i's code as an integer (format it with token.AppendCode and
// the token's digits), or [NoCode].
func (f *Fleet) Codes(at time.Time, dst []uint32) []uint32 {
	n := len(f.recs)
	if cap(dst) < n {
		dst = make([]uint32, n)
	}
	dst = dst[:n]
	sec, nsec := at.Unix(), int64(at.Nanosecond())
	const chunk = 8192
	workers := min(runtime.GOMAXPROCS(0), (n+chunk-1)/chunk)
	if workers <= 1 {
		w := newMACWorker()
		for i := range f.recs {
			dst[i] = f.value(w, &f.recs[i], sec, nsec)
		}
		return dst
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newMACWorker()
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= n {
					return
				}
				hi := min(lo+chunk, n)
				for i := lo; i < hi; i++ {
					dst[i] = f.value(w, &f.recs[i], sec, nsec)
				}
			}
		}()
	}
	wg.Wait()
	return dst
}

// step returns the token's RFC 6238 time step at real instant
// (sec, nsec), with exactly hw.ClockState.DeviceTime's arithmetic.
func (r *fleetRec) step(sec, nsec int64) uint64 {
	dev := r.epochSec
	if r.flags&flagStuck == 0 {
		// e = real - epoch in ns, saturating as time.Time.Sub does.
		ds := sec - r.epochSec
		var e int64
		switch {
		case ds > math.MaxInt64/1_000_000_000-1:
			e = math.MaxInt64
		case ds < math.MinInt64/1_000_000_000+1:
			e = math.MinInt64
		default:
			e = ds*1e9 + nsec - int64(r.epochNsec)
		}
		delta := r.offset + hw.DriftNanos(e, r.rate)
		// real + delta, as time.Time.Add does it.
		dsec := delta / 1e9
		dn := nsec + delta%1e9
		if dn >= 1e9 {
			dsec++
		} else if dn < 0 {
			dsec--
		}
		dev = sec + dsec
	}
	if dev < 0 {
		return 0
	}
	return uint64(dev) / uint64(r.period)
}

var pow10 = [...]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

// value computes token r's code at real instant (sec, nsec): RFC 4226
// HMAC and dynamic truncation, without allocating.
func (f *Fleet) value(w *macWorker, r *fleetRec, sec, nsec int64) uint32 {
	if r.flags&flagDead != 0 {
		return NoCode
	}
	key := f.arena[r.off : r.off+uint32(r.keyLen)]
	c := w.ctr[:] // in the worker: a stack array would escape through hash.Hash.Write
	binary.BigEndian.PutUint64(c, r.step(sec, nsec))
	var mac []byte
	if precomputed() {
		mac = w.macFromStates(token.Algorithm(r.alg), key, c)
	} else {
		mac = w.macFromKey(token.Algorithm(r.alg), key, c)
	}
	o := mac[len(mac)-1] & 0x0f
	bin := binary.BigEndian.Uint32(mac[o:o+4]) & 0x7fffffff
	return bin % pow10[r.digits]
}

// macFromKey is HMAC over stack buffers from the key itself: four
// compression-function calls for SHA-1.
func (w *macWorker) macFromKey(alg token.Algorithm, key, c []byte) []byte {
	switch alg {
	case token.SHA256:
		var in [64 + 8]byte
		var out [64 + 32]byte
		pads(in[:64], out[:64], key)
		copy(in[64:], c)
		s := sha256.Sum256(in[:])
		copy(out[64:], s[:])
		s = sha256.Sum256(out[:])
		return append(w.sum[:0], s[:]...)
	case token.SHA512:
		var in [128 + 8]byte
		var out [128 + 64]byte
		pads(in[:128], out[:128], key)
		copy(in[128:], c)
		s := sha512.Sum512(in[:])
		copy(out[128:], s[:])
		s = sha512.Sum512(out[:])
		return append(w.sum[:0], s[:]...)
	}
	var in [64 + 8]byte
	var out [64 + 20]byte
	pads(in[:64], out[:64], key)
	copy(in[64:], c)
	s := sha1.Sum(in[:])
	copy(out[64:], s[:])
	s = sha1.Sum(out[:])
	return append(w.sum[:0], s[:]...)
}

// HMAC with precomputed key states (RFC 2104 §4, "implementation note"):
// the hash's chaining value after the inner key block K⊕ipad and after the
// outer one K⊕opad are computed once per token when it joins the fleet, so
// a code costs two compression-function calls instead of four. The states
// are loaded into a reusable digest through its encoding.BinaryUnmarshaler,
// whose layout for crypto/sha1, sha256 and sha512 is magic (4 bytes), the
// chaining value, the block buffer and the length; [precomputed] checks
// that layout against crypto/hmac once and falls back to macFromKey if it
// ever changes.
type macWorker struct {
	h    [4]hash.Hash
	u    [4]encoding.BinaryUnmarshaler
	blob [4][]byte // a marshaled digest that has hashed one block
	in   [64]byte
	sum  [64]byte
	ctr  [8]byte
}

const stateMagicLen = 4

func newMACWorker() *macWorker {
	w := new(macWorker)
	if !precomputed() {
		return w
	}
	for _, a := range []token.Algorithm{token.SHA1, token.SHA256, token.SHA512} {
		w.h[a] = a.Hash()()
		w.u[a] = w.h[a].(encoding.BinaryUnmarshaler)
		w.blob[a] = bytes.Clone(stateTemplates[a])
	}
	return w
}

func (w *macWorker) macFromStates(alg token.Algorithm, states, c []byte) []byte {
	h, u, blob := w.h[alg], w.u[alg], w.blob[alg]
	n := len(states) / 2
	copy(blob[stateMagicLen:], states[:n])
	if u.UnmarshalBinary(blob) != nil {
		return w.sum[:h.Size()] // unreachable: the layout was checked
	}
	h.Write(c)
	inner := h.Sum(w.in[:0])
	copy(blob[stateMagicLen:], states[n:])
	u.UnmarshalBinary(blob)
	h.Write(inner)
	return h.Sum(w.sum[:0])
}

// stateTemplates[alg] is a marshaled digest of alg that has hashed one
// zero block; its chaining value is replaced by a token's.
var stateTemplates [4][]byte

// hmacStates returns the inner and outer chaining values for key (at most
// one block long).
func hmacStates(alg token.Algorithm, key []byte) []byte {
	bs := blockSize(alg)
	size := alg.Hash()().Size()
	out := make([]byte, 0, 2*size)
	pad := make([]byte, bs)
	for _, p := range []byte{0x36, 0x5c} {
		for i := range pad {
			pad[i] = p
		}
		for i, k := range key {
			pad[i] ^= k
		}
		h := alg.Hash()()
		h.Write(pad)
		m, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
		out = append(out, m[stateMagicLen:stateMagicLen+size]...)
		clear(m)
	}
	clear(pad)
	return out
}

// precomputed reports whether the digests' marshaled layout is the one
// macFromStates relies on, checked once against crypto/hmac.
var precomputed = sync.OnceValue(func() bool {
	key := []byte("tokenlab fleet self-check key")
	msg := []byte{0, 0, 0, 0, 0, 0, 0, 42}
	var t [4][]byte
	for _, a := range []token.Algorithm{token.SHA1, token.SHA256, token.SHA512} {
		h := a.Hash()()
		m, ok := h.(encoding.BinaryMarshaler)
		if !ok {
			return false
		}
		h.Write(make([]byte, blockSize(a)))
		b, err := m.MarshalBinary()
		if err != nil || len(b) != stateMagicLen+h.Size()+blockSize(a)+8 {
			return false
		}
		t[a] = b
	}
	stateTemplates = t
	w := &macWorker{}
	for _, a := range []token.Algorithm{token.SHA1, token.SHA256, token.SHA512} {
		w.h[a] = a.Hash()()
		w.u[a] = w.h[a].(encoding.BinaryUnmarshaler)
		w.blob[a] = bytes.Clone(t[a])
		want := hmac.New(a.Hash(), key)
		want.Write(msg)
		if !bytes.Equal(w.macFromStates(a, hmacStates(a, key), msg), want.Sum(nil)) {
			return false
		}
	}
	return true
})

// pads fills the HMAC inner and outer key blocks (RFC 2104 §2).
func pads(in, out, key []byte) {
	for i := range in {
		in[i], out[i] = 0x36, 0x5c
	}
	for i, k := range key {
		in[i] ^= k
		out[i] ^= k
	}
}

// String describes the fleet without its keys.
func (f *Fleet) String() string { return fmt.Sprintf("Fleet(%d tokens)", len(f.recs)) }
