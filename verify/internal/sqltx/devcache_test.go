package sqltx

import (
	"fmt"
	"hash/maphash"
	"reflect"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
)

func cacheDevice(id string) *verify.DeviceRecord {
	return &verify.DeviceRecord{
		Device: verify.Device{ID: id, Kind: verify.KindVirtual, State: verify.StateAssigned, User: "Alice",
			Spec:  token.Spec{Algorithm: token.SHA256, Digits: 8, Period: 60 * time.Second},
			Drift: -3, LastStep: 29000000, LockedUntil: time.Unix(1800000000, 5).UTC()},
		SealedSeed: []byte("nonce-and-ciphertext-" + id), KeyID: "kek-2",
	}
}

// A row comes back as it went in, and a row that does not fit the
// slot's fields is not cached.
func TestDeviceCacheRoundTrip(t *testing.T) {
	c := NewDeviceCache(10)
	in := cacheDevice("arn:aws:iam::123456789012:mfa/phone")
	c.put(in)
	out, ok := c.get(in.ID)
	if !ok || !reflect.DeepEqual(out, in) {
		t.Fatalf("get = %+v, %v; want %+v", out, ok, in)
	}
	if _, ok := c.get("GAHT00000001"); ok {
		t.Fatal("get found a device never put")
	}
	big := cacheDevice("GAHT00000002")
	big.SealedSeed = make([]byte, 300)
	c.put(big)
	if _, ok := c.get(big.ID); ok || c.Len() != 1 {
		t.Fatalf("a 300-byte seed was cached (%d devices)", c.Len())
	}
}

// Another id with the same hash is a miss, not the other's row.
func TestDeviceCacheCollision(t *testing.T) {
	c := NewDeviceCache(10)
	a := cacheDevice("GAHT00000001")
	c.put(a)
	// Point the hash of b at a's slot, as a collision would.
	c.index[maphash.String(c.seed, "GAHT00000002")] = c.index[maphash.String(c.seed, a.ID)]
	if d, ok := c.get("GAHT00000002"); ok {
		t.Fatalf("a colliding id read %+v", d)
	}
	if _, _, _, ok := c.owner("GAHT00000002", "Alice"); ok {
		t.Fatal("owner answered for a colliding id")
	}
}

// A fold moves the step forward only; del and the size limit hold.
func TestDeviceCacheFoldDelMax(t *testing.T) {
	c := NewDeviceCache(2)
	d := cacheDevice("GAHT00000001")
	c.put(d)
	c.fold(d.ID, stepEntry{step: 28000000, drift: 5})
	if got, _ := c.get(d.ID); got.LastStep != 29000000 || got.Drift != -3 {
		t.Fatalf("an older fold changed the row: step %d drift %d", got.LastStep, got.Drift)
	}
	c.fold(d.ID, stepEntry{step: 29000001, drift: 1})
	got, _ := c.get(d.ID)
	if got.LastStep != 29000001 || got.Drift != 1 || !got.LockedUntil.IsZero() {
		t.Fatalf("after a newer fold: step %d drift %d lock %v", got.LastStep, got.Drift, got.LockedUntil)
	}
	if assigned, last, _, ok := c.owner(d.ID, "Alice"); !ok || !assigned || last != 29000001 {
		t.Fatalf("owner = %v %d %v", assigned, last, ok)
	}
	if assigned, _, _, _ := c.owner(d.ID, "alice"); assigned {
		t.Fatal("owner matched another user name")
	}
	c.put(cacheDevice("GAHT00000002"))
	c.put(cacheDevice("GAHT00000003"))
	if c.Len() != 2 {
		t.Fatalf("a cache of 2 holds %d", c.Len())
	}
	c.del(d.ID)
	if _, ok := c.get(d.ID); ok || c.Len() != 1 {
		t.Fatalf("del left the device (%d held)", c.Len())
	}
}

// Rows replaced over and over: the arena is compacted and every row
// still reads back.
func TestDeviceCacheCompacts(t *testing.T) {
	c := NewDeviceCache(1000)
	for round := 0; round < 200; round++ {
		for i := 0; i < 1000; i++ {
			d := cacheDevice(fmt.Sprintf("GAHT%08d", i))
			d.LastStep = uint64(round)
			c.put(d)
		}
	}
	if len(c.arena) > 2*c.Len()*len(cacheDevice("GAHT00000000").ID)*4+1<<21 {
		t.Fatalf("arena of %d bytes for %d devices: not compacted", len(c.arena), c.Len())
	}
	for i := 0; i < 1000; i++ {
		want := cacheDevice(fmt.Sprintf("GAHT%08d", i))
		want.LastStep = 199
		if got, ok := c.get(want.ID); !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("after compaction %s reads %+v, %v", want.ID, got, ok)
		}
	}
}

// The cache holds no pointers for the garbage collector to scan.
func TestDeviceCachePointerFree(t *testing.T) {
	var hasPointers func(reflect.Type) bool
	hasPointers = func(t reflect.Type) bool {
		switch t.Kind() {
		case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
			return true
		case reflect.Struct:
			for i := 0; i < t.NumField(); i++ {
				if hasPointers(t.Field(i).Type) {
					return true
				}
			}
		case reflect.Array:
			return hasPointers(t.Elem())
		}
		return false
	}
	if hasPointers(reflect.TypeOf(cacheSlot{})) {
		t.Fatal("cacheSlot holds a pointer")
	}
	if idx := reflect.TypeOf(DeviceCache{}.index); hasPointers(idx.Key()) || hasPointers(idx.Elem()) {
		t.Fatal("the index holds pointers")
	}
}
