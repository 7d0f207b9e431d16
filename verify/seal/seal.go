// Package seal keeps secrets sealed at rest: seeds of MFA devices and
// secret access keys are encrypted with AES-256-GCM under a key-encryption
// key (KEK) kept in a file outside the database.
//
// A [Sealer] holds one or more KEKs, each named by a short key id; the
// current one seals, every one opens. The key id is stored beside each
// ciphertext, so a KEK can be rotated: add a new key with [AddKey], re-seal
// every row (verify.Service.RotateKEK), and only then retire the old key.
// The caller passes associated data that binds a ciphertext to its row (for
// example the device id), so a ciphertext copied onto another row fails to
// open.
//
//	s, err := seal.LoadOrCreateKEK("/var/lib/tokenlab/kek")
//	id, ct, err := s.Seal(seed, []byte("device:GAHT12345678"))
//	seed, err = s.Open(id, ct, []byte("device:GAHT12345678"))
package seal

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// KeySize is the size of a KEK: AES-256.
const KeySize = 32

// ErrOpen is returned by [Sealer.Open] when a ciphertext does not
// authenticate: wrong key, wrong associated data, or tampering.
var ErrOpen = errors.New("seal: ciphertext does not authenticate")

// ErrUnknownKey is returned by [Sealer.Open] for a key id the Sealer does
// not hold (the KEK file lacks a retired key that rows still use).
var ErrUnknownKey = errors.New("seal: unknown key id")

// Key is one key-encryption key.
type Key struct {
	ID     string
	Secret [KeySize]byte
}

// Sealer seals and opens secrets. It is safe for concurrent use.
//
// A Sealer loaded from a file follows it: before sealing it checks whether
// the file changed (another process ran AddKey or RetireKeys) and reloads
// it, and when asked to open under a key id it does not know it reloads
// once before giving up. So a running verifier picks up a rotation made by
// `tokenlab admin rotate-kek` without a restart.
type Sealer struct {
	rand io.Reader
	path string // "" for a Sealer made by New

	mu    sync.RWMutex
	st    *keyring
	stamp fileStamp
}

// keyring is one version of the keys.
type keyring struct {
	current string
	aeads   map[string]cipher.AEAD
	ids     []string // sorted
	keys    []Key    // as given, for writing the file back
}

type fileStamp struct {
	size    int64
	modTime time.Time
	ino     uint64
}

func stampOf(fi fs.FileInfo) fileStamp {
	st := fileStamp{size: fi.Size(), modTime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st
}

// New returns a Sealer over keys, sealing with the key named current.
// rand supplies nonces; nil means crypto/rand.
func New(keys []Key, current string, rnd io.Reader) (*Sealer, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	kr, err := newKeyring(keys, current)
	if err != nil {
		return nil, err
	}
	return &Sealer{rand: rnd, st: kr}, nil
}

func newKeyring(keys []Key, current string) (*keyring, error) {
	s := &keyring{current: current, aeads: make(map[string]cipher.AEAD)}
	for _, k := range keys {
		if err := validID(k.ID); err != nil {
			return nil, err
		}
		if _, dup := s.aeads[k.ID]; dup {
			return nil, fmt.Errorf("seal: key id %q listed twice", k.ID)
		}
		b, err := aes.NewCipher(k.Secret[:])
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		g, err := cipher.NewGCM(b)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		s.aeads[k.ID] = g
		s.ids = append(s.ids, k.ID)
		s.keys = append(s.keys, k)
	}
	sort.Strings(s.ids)
	if _, ok := s.aeads[current]; !ok {
		return nil, fmt.Errorf("seal: current key %q is not among the keys", current)
	}
	return s, nil
}

func (s *Sealer) ring() *keyring {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st
}

// refresh reloads the file if it changed since it was read (or, with
// force, whenever it can be read). Errors keep the keys in hand.
func (s *Sealer) refresh(force bool) *keyring {
	if s.path == "" {
		return s.ring()
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return s.ring()
	}
	stamp := stampOf(fi)
	s.mu.RLock()
	same := stamp == s.stamp
	kr := s.st
	s.mu.RUnlock()
	if same && !force {
		return kr
	}
	fresh, stamp2, err := loadRing(s.path)
	if err != nil {
		return kr
	}
	s.mu.Lock()
	s.st, s.stamp = fresh, stamp2
	s.mu.Unlock()
	return fresh
}

// NewKey draws a fresh key with a random id from rnd (nil: crypto/rand).
func NewKey(rnd io.Reader) (Key, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	var k Key
	var id [4]byte
	if _, err := io.ReadFull(rnd, id[:]); err != nil {
		return Key{}, fmt.Errorf("seal: drawing key id: %w", err)
	}
	if _, err := io.ReadFull(rnd, k.Secret[:]); err != nil {
		return Key{}, fmt.Errorf("seal: drawing key: %w", err)
	}
	k.ID = "kek-" + hex.EncodeToString(id[:])
	return k, nil
}

func validID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("seal: key id %q: want 1 to 64 characters", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("seal: key id %q: character %q not allowed", id, c)
		}
	}
	return nil
}

// Current returns the id of the key that seals.
func (s *Sealer) Current() string { return s.ring().current }

// KeyIDs returns the ids of every key the Sealer can open with, sorted.
func (s *Sealer) KeyIDs() []string { return append([]string(nil), s.ring().ids...) }

// Path returns the KEK file the Sealer follows ("" if none).
func (s *Sealer) Path() string { return s.path }

// Seal encrypts plaintext under the current key, binding it to aad. The
// ciphertext is the 12-byte nonce followed by the GCM output.
func (s *Sealer) Seal(plaintext, aad []byte) (keyID string, ciphertext []byte, err error) {
	kr := s.refresh(false)
	g := kr.aeads[kr.current]
	nonce := make([]byte, g.NonceSize(), g.NonceSize()+len(plaintext)+g.Overhead())
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return "", nil, fmt.Errorf("seal: drawing nonce: %w", err)
	}
	return kr.current, g.Seal(nonce, nonce, plaintext, s.aad(kr.current, aad)), nil
}

// Open decrypts a ciphertext sealed under keyID with the same aad.
func (s *Sealer) Open(keyID string, ciphertext, aad []byte) ([]byte, error) {
	g, ok := s.ring().aeads[keyID]
	if !ok {
		g, ok = s.refresh(true).aeads[keyID]
	}
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, keyID)
	}
	if len(ciphertext) < g.NonceSize()+g.Overhead() {
		return nil, ErrOpen
	}
	n := g.NonceSize()
	pt, err := g.Open(nil, ciphertext[:n], ciphertext[n:], s.aad(keyID, aad))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// aad binds the key id too, so a row whose key id column was altered does
// not open under another key that happens to be listed.
func (s *Sealer) aad(keyID string, aad []byte) []byte {
	b := make([]byte, 0, len("tokenlab-seal-v1\x00")+len(keyID)+1+len(aad))
	b = append(b, "tokenlab-seal-v1\x00"...)
	b = append(b, keyID...)
	b = append(b, 0)
	return append(b, aad...)
}

// The KEK file is text:
//
//	# tokenlab key-encryption keys ...
//	current kek-1a2b3c4d
//	key kek-1a2b3c4d <base64 of 32 bytes>
//	key kek-0f0e0d0c <base64 of 32 bytes>
const fileHeader = "# tokenlab key-encryption keys (AES-256-GCM). Keep secret: mode 0600, outside the database.\n" +
	"# 'current' names the key that seals; every listed key opens. Retire a key only after re-sealing.\n"

// LoadOrCreateKEK reads the KEK file at path, or creates it with one fresh
// key (mode 0600) if it does not exist. Several processes may call it at
// once: exactly one creates the file and every one reads the same keys.
// A file readable or writable by group or others is refused.
func LoadOrCreateKEK(path string) (*Sealer, error) {
	s, err := Load(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	k, err := NewKey(nil)
	if err != nil {
		return nil, err
	}
	if err := writeFile(path, []Key{k}, k.ID, false); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return Load(path) // another process won the race
		}
		return nil, err
	}
	return Load(path)
}

// Load reads an existing KEK file; the Sealer follows later changes to it.
func Load(path string) (*Sealer, error) {
	kr, stamp, err := loadRing(path)
	if err != nil {
		return nil, err
	}
	return &Sealer{rand: rand.Reader, path: path, st: kr, stamp: stamp}, nil
}

func loadRing(path string) (*keyring, fileStamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("seal: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("seal: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fileStamp{}, fmt.Errorf("seal: KEK file %s has mode %v: it must not be accessible to group or others (chmod 600)", path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("seal: %w", err)
	}
	defer clear(b)
	keys, cur, err := parse(b)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("seal: %s: %w", path, err)
	}
	kr, err := newKeyring(keys, cur)
	if err != nil {
		return nil, fileStamp{}, err
	}
	return kr, stampOf(fi), nil
}

func parse(b []byte) ([]Key, string, error) {
	var keys []Key
	cur := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || t[0] == '#' {
			continue
		}
		f := strings.Fields(t)
		switch {
		case f[0] == "current" && len(f) == 2:
			if cur != "" {
				return nil, "", fmt.Errorf("line %d: second current line", line)
			}
			cur = f[1]
		case f[0] == "key" && len(f) == 3:
			raw, err := base64.StdEncoding.DecodeString(f[2])
			if err != nil || len(raw) != KeySize {
				return nil, "", fmt.Errorf("line %d: key %s is not %d bytes of base64", line, f[1], KeySize)
			}
			var k Key
			k.ID = f[1]
			copy(k.Secret[:], raw)
			clear(raw)
			keys = append(keys, k)
		default:
			return nil, "", fmt.Errorf("line %d: want 'current ID' or 'key ID BASE64'", line)
		}
	}
	if len(keys) == 0 {
		return nil, "", errors.New("no keys")
	}
	if cur == "" {
		return nil, "", errors.New("no current line")
	}
	return keys, cur, nil
}

// AddKey adds a fresh key to the KEK file at path and makes it current,
// replacing the file atomically, and returns the Sealer over every key.
// Old keys stay so rows sealed under them still open until re-sealed.
func AddKey(path string) (*Sealer, error) {
	old, err := Load(path)
	if err != nil {
		return nil, err
	}
	k, err := NewKey(nil)
	if err != nil {
		return nil, err
	}
	keys := append(append([]Key(nil), old.ring().keys...), k)
	if err := writeFile(path, keys, k.ID, true); err != nil {
		return nil, err
	}
	return Load(path)
}

// RetireKeys rewrites the KEK file at path keeping only the current key.
// Call it only after every row was re-sealed under the current key.
func RetireKeys(path string) (*Sealer, error) {
	s, err := Load(path)
	if err != nil {
		return nil, err
	}
	var keep []Key
	kr := s.ring()
	for _, k := range kr.keys {
		if k.ID == kr.current {
			keep = append(keep, k)
		}
	}
	if err := writeFile(path, keep, kr.current, true); err != nil {
		return nil, err
	}
	return Load(path)
}

// writeFile writes keys to a temporary file, syncs it, and then links it
// into place (replace=false: fails with fs.ErrExist if path exists) or
// renames it over path (replace=true).
func writeFile(path string, keys []Key, current string, replace bool) error {
	var buf bytes.Buffer
	buf.WriteString(fileHeader)
	fmt.Fprintf(&buf, "current %s\n", current)
	for _, k := range keys {
		fmt.Fprintf(&buf, "key %s %s\n", k.ID, base64.StdEncoding.EncodeToString(k.Secret[:]))
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	f, err := os.CreateTemp(dir, ".kek-*")
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("seal: %w", err)
	}
	_, err = f.Write(buf.Bytes())
	clear(buf.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("seal: writing %s: %w", path, err)
	}
	if replace {
		err = os.Rename(tmp, path)
	} else {
		err = os.Link(tmp, path)
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("seal: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
