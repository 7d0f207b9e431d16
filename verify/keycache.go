package verify

import (
	"sync"
	"time"
)

// keyCache keeps the access keys LookupAccessKey found, secrets unsealed,
// for a short time: every SigV4 request of the IAM endpoint looks its key
// up, and a database read plus an AES-GCM open cost more than the rest of
// the signature check.
//
// The trade-off: a key deleted through this Service is forgotten at once
// (and a lookup that raced with the deletion does not put it back), but a
// key deleted by another process sharing the database stays usable here
// for up to [Config.AccessKeyCacheTTL] (default 5 s). Session keys still
// expire exactly: the expiry is checked on every hit. Secrets stay in
// memory that long instead of for one request.
type keyCache struct {
	ttl time.Duration

	mu   sync.Mutex
	gen  uint64 // bumped by every invalidation
	keys map[string]cachedKey
}

type cachedKey struct {
	k     AccessKey
	until time.Time
}

// keyCacheMax bounds the cache; when full it starts over.
const keyCacheMax = 10000

func (c *keyCache) get(id string, now time.Time) (AccessKey, bool) {
	if c.ttl <= 0 {
		return AccessKey{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.keys[id]
	if !ok || !now.Before(e.until) {
		return AccessKey{}, false
	}
	return e.k, true
}

// generation returns the current generation, to pass to put after reading
// the database.
func (c *keyCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put remembers k unless an invalidation happened since gen was read.
func (c *keyCache) put(k AccessKey, gen uint64, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.keys == nil || len(c.keys) >= keyCacheMax {
		c.keys = make(map[string]cachedKey)
	}
	c.keys[k.ID] = cachedKey{k: k, until: now.Add(c.ttl)}
}

// forget drops id ("" drops every key).
func (c *keyCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if id == "" {
		c.keys = nil
		return
	}
	delete(c.keys, id)
}
