package sqltx

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync/atomic"
	"time"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
)

// DeviceCache holds, in the owner of a StepLog, a copy of the columns a
// code check reads (checkCols) of every device row, as the row holds them
// (without the logged step, which StepTx.Patch adds as on any read). The
// writer then skips the SELECT that read them: with devices checked in a
// random order, that read was the largest part of a check in the group
// commit, mostly page lookups and copies.
//
// It holds no pointers: an index from the hash of the id to a slot, slots
// of fixed size, and one byte arena for the id, user, sealed seed and key
// id. A cache of a million devices costs the garbage collector nothing to
// scan (a map of strings and records did: it slowed every request of the
// process).
//
// Only the writer uses it, inside its transactions: a row it reads fills
// the cache when the transaction commits; a write to a row empties the
// row's slot at once and reads the row again before the commit; a fold
// updates the slot's step as the UPDATE does. Rows written by another
// connection (another process sharing the file) are not seen here, so the
// store clears the cache whenever PRAGMA data_version says another
// connection committed (SeeVersion).
type DeviceCache struct {
	max   int
	seed  maphash.Seed
	index map[uint64]uint32 // hash of the id → slot
	slots []cacheSlot
	free  []uint32
	arena []byte
	dead  int // arena bytes of slots gone
	ver   int64
	n     atomic.Int64 // len(index), for other goroutines
}

type cacheSlot struct {
	off                 uint32 // id ‖ user ‖ seed ‖ key id in the arena
	idLen               uint16
	userLen, seedLen    uint8
	keyLen              uint8
	kind, state         uint8
	alg, digits         uint8
	used                bool
	period              uint32 // seconds
	drift, last, locked int64
}

var (
	cacheKinds  = []verify.Kind{verify.KindHardware, verify.KindVirtual, verify.KindFIDO}
	cacheStates = []verify.State{verify.StateAvailable, verify.StateAssigned, verify.StateLost}
)

func indexOf[T comparable](list []T, v T) (uint8, bool) {
	for i, x := range list {
		if x == v {
			return uint8(i), true
		}
	}
	return 0, false
}

// NewDeviceCache returns a cache of at most max devices.
func NewDeviceCache(max int) *DeviceCache {
	return &DeviceCache{max: max, seed: maphash.MakeSeed(), index: map[uint64]uint32{}}
}

// Len returns how many devices the cache holds.
func (c *DeviceCache) Len() int { return len(c.index) }

func (c *DeviceCache) find(id string) (uint32, bool) {
	i, ok := c.index[maphash.String(c.seed, id)]
	if !ok {
		return 0, false
	}
	s := &c.slots[i]
	if int(s.idLen) != len(id) || string(c.arena[s.off:s.off+uint32(s.idLen)]) != id {
		return 0, false // another id with the same hash
	}
	return i, true
}

// get returns device id's cached row.
func (c *DeviceCache) get(id string) (*verify.DeviceRecord, bool) {
	i, ok := c.find(id)
	if !ok {
		return nil, false
	}
	s := &c.slots[i]
	d := new(verify.DeviceRecord)
	p := s.off + uint32(s.idLen)
	d.ID = id
	d.User = string(c.arena[p : p+uint32(s.userLen)])
	p += uint32(s.userLen)
	if s.seedLen > 0 {
		// The arena's bytes never change once written: the record may
		// share them (capacity capped, so an append copies).
		d.SealedSeed = c.arena[p : p+uint32(s.seedLen) : p+uint32(s.seedLen)]
	}
	p += uint32(s.seedLen)
	d.KeyID = string(c.arena[p : p+uint32(s.keyLen)])
	d.Kind, d.State = cacheKinds[s.kind], cacheStates[s.state]
	d.Spec = token.Spec{Algorithm: token.Algorithm(s.alg), Digits: int(s.digits), Period: time.Duration(s.period) * time.Second}
	d.Drift, d.LastStep, d.LockedUntil = s.drift, uint64(s.last), i2t(s.locked)
	return d, true
}

// put stores d, a row as read (its checkCols), replacing what the cache
// held for its id or for another id with the same hash. A row that does
// not fit the slot's fields is not cached.
func (c *DeviceCache) put(d *verify.DeviceRecord) {
	kind, ok1 := indexOf(cacheKinds, d.Kind)
	state, ok2 := indexOf(cacheStates, d.State)
	if !ok1 || !ok2 || len(d.ID) > 0xffff || len(d.User) > 0xff || len(d.SealedSeed) > 0xff || len(d.KeyID) > 0xff ||
		d.Spec.Digits < 0 || d.Spec.Digits > 0xff ||
		d.Spec.Period < 0 || d.Spec.Period/time.Second > 0xffffffff || d.Spec.Period%time.Second != 0 {
		c.del(d.ID)
		return
	}
	h := maphash.String(c.seed, d.ID)
	i, had := c.index[h]
	if had {
		c.release(i)
	} else if len(c.index) >= c.max {
		return
	}
	if n := len(c.free); n > 0 {
		i, c.free = c.free[n-1], c.free[:n-1]
	} else {
		i = uint32(len(c.slots))
		c.slots = append(c.slots, cacheSlot{})
	}
	c.compact()
	s := cacheSlot{
		off: uint32(len(c.arena)), idLen: uint16(len(d.ID)), userLen: uint8(len(d.User)),
		seedLen: uint8(len(d.SealedSeed)), keyLen: uint8(len(d.KeyID)),
		kind: kind, state: state, alg: uint8(d.Spec.Algorithm), digits: uint8(d.Spec.Digits),
		used: true, period: uint32(d.Spec.Period / time.Second),
		drift: d.Drift, last: int64(d.LastStep), locked: t2i(d.LockedUntil),
	}
	c.arena = append(append(append(append(c.arena, d.ID...), d.User...), d.SealedSeed...), d.KeyID...)
	c.slots[i] = s
	c.index[h] = i
	c.n.Store(int64(len(c.index)))
}

// release frees slot i (its index entry stays for the caller to reuse or
// delete).
func (c *DeviceCache) release(i uint32) {
	s := &c.slots[i]
	c.dead += int(s.idLen) + int(s.userLen) + int(s.seedLen) + int(s.keyLen)
	*s = cacheSlot{}
	c.free = append(c.free, i)
}

// owner reports, for cached device id, whether it is assigned to user,
// with its last step and lock as the row holds them: AdvanceStep's
// conditions, without building a record.
func (c *DeviceCache) owner(id, user string) (assigned bool, last uint64, locked int64, ok bool) {
	i, ok := c.find(id)
	if !ok {
		return false, 0, 0, false
	}
	s := &c.slots[i]
	p := s.off + uint32(s.idLen)
	assigned = cacheStates[s.state] == verify.StateAssigned && string(c.arena[p:p+uint32(s.userLen)]) == user
	return assigned, uint64(s.last), s.locked, true
}

// del forgets device id.
func (c *DeviceCache) del(id string) {
	h := maphash.String(c.seed, id)
	if i, ok := c.index[h]; ok {
		c.release(i)
		delete(c.index, h)
		c.n.Store(int64(len(c.index)))
	}
}

// fold gives device id's slot a folded step, as foldRow's UPDATE does.
func (c *DeviceCache) fold(id string, e stepEntry) {
	i, ok := c.find(id)
	if !ok {
		return
	}
	if s := &c.slots[i]; uint64(s.last) < e.step {
		s.last, s.drift, s.locked = int64(e.step), e.drift, 0
	}
}

// clear forgets every device.
func (c *DeviceCache) clear() {
	clear(c.index)
	c.slots, c.free, c.arena, c.dead = c.slots[:0], c.free[:0], nil, 0
	c.n.Store(0)
}

// compact copies the live slots' bytes into a new arena once the dead
// bytes outweigh the live ones (and a megabyte). Records handed out keep
// the old arena, which is never written again.
func (c *DeviceCache) compact() {
	if c.dead < 1<<20 || c.dead < len(c.arena)-c.dead {
		return
	}
	arena := make([]byte, 0, len(c.arena)-c.dead)
	for i := range c.slots {
		s := &c.slots[i]
		if !s.used {
			continue
		}
		n := uint32(s.idLen) + uint32(s.userLen) + uint32(s.seedLen) + uint32(s.keyLen)
		off := uint32(len(arena))
		arena = append(arena, c.arena[s.off:s.off+n]...)
		s.off = off
	}
	c.arena, c.dead = arena, 0
}

// SeeVersion takes the database's data_version as the writer's
// connection reads it at the start of a transaction: a change means
// another connection committed, and every cached row may be stale.
func (c *DeviceCache) SeeVersion(v int64) {
	if v != c.ver {
		c.clear()
		c.ver = v
	}
}

// ---- the device cache in a transaction (StepTx) and its store (StepLog)

func (t *StepTx) cacheOn() bool { return t.write && t.l.Cache != nil }

// Cached returns device id's row from the device cache, on the writer,
// unless this transaction wrote it.
func (t *StepTx) Cached(id string) (*verify.DeviceRecord, bool) {
	if !t.cacheOn() {
		return nil, false
	}
	if _, dirty := t.dirty[id]; dirty {
		return nil, false
	}
	return t.l.Cache.get(id)
}

// Fill offers d, a device row as this transaction read it (before
// Patch), to the device cache, which takes it if the transaction
// commits.
func (t *StepTx) Fill(d *verify.DeviceRecord) {
	if !t.cacheOn() || t.cleared {
		return
	}
	if _, dirty := t.dirty[d.ID]; dirty {
		return // read again before the commit anyway
	}
	if t.fills == nil {
		t.fills = make(map[string]verify.DeviceRecord, 32)
	}
	t.fills[d.ID] = *d
}

// Invalidate is for a write to device id's row: its cached copy goes at
// once, and the row is read again before the commit (refresh).
func (t *StepTx) Invalidate(id string) {
	if !t.cacheOn() {
		return
	}
	t.l.Cache.del(id)
	delete(t.fills, id)
	if t.dirty == nil {
		t.dirty = make(map[string]struct{}, 4)
	}
	t.dirty[id] = struct{}{}
}

// ClearCache is for a write to many rows (resealing every seed): the
// cache forgets everything, and this transaction caches nothing.
func (t *StepTx) ClearCache() {
	if !t.cacheOn() {
		return
	}
	t.l.Cache.clear()
	t.cleared, t.fills, t.dirty = true, nil, nil
}

// refresh reads the rows this transaction wrote, for the cache.
func (t *StepTx) refresh(ctx context.Context, c Conn) error {
	if !t.cacheOn() || t.cleared {
		return nil
	}
	for id := range t.dirty {
		d, err := scanCheckDevice(c.QueryRow(ctx, `SELECT `+checkCols+` FROM `+t.l.d.Devices+` WHERE id = $1`, id))
		if err != nil {
			if t.l.d.IsNoRows(err) {
				continue
			}
			return err
		}
		if t.fills == nil {
			t.fills = make(map[string]verify.DeviceRecord, len(t.dirty))
		}
		t.fills[id] = *d
	}
	return nil
}

// SeeVersion passes the writer's PRAGMA data_version, read at the start
// of a transaction, to the device cache (see DeviceCache.SeeVersion).
func (l *StepLog) SeeVersion(v int64) {
	if l.Cache != nil {
		l.Cache.SeeVersion(v)
	}
}

// Load fills the device cache with every device row, up to its size: an
// owner's, after Replay.
func (l *StepLog) Load(ctx context.Context, c Conn) error {
	if l.Cache == nil {
		return nil
	}
	rows, err := c.Query(ctx, `SELECT `+checkCols+` FROM `+l.d.Devices)
	if err != nil {
		return fmt.Errorf("device cache: %w", err)
	}
	defer rows.Close()
	for rows.Next() && l.Cache.Len() < l.Cache.max {
		d, err := scanCheckDevice(rows)
		if err != nil {
			return fmt.Errorf("device cache: %w", err)
		}
		l.Cache.put(d)
	}
	return rows.Err()
}
