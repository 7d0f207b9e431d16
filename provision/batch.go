package provision

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/tokenlab/tokenlab/token"
)

// BatchConfig describes a batch of tokens of one model.
type BatchConfig struct {
	Model token.Model
	// Spec defaults to the model's spec.
	Spec token.Spec
	// Serials: Prefix (four upper-case letters) and the first number Start,
	// or After, the last serial of a previous batch to continue from.
	Prefix string
	Start  uint64
	After  token.Serial
	Count  int
	Issuer string
	// Manufacturer defaults to [DefaultManufacturer].
	Manufacturer string
	// Rand supplies the seeds (default crypto/rand).
	Rand io.Reader
}

// ErrBatch is matched by errors about a batch that cannot be made.
var ErrBatch = errors.New("provision: invalid batch")

// Batch hands out a batch's records one at a time. Serials are
// consecutive with Luhn check digits and never repeat within a prefix;
// seeds are read from Rand in blocks. It is not safe for concurrent use.
type Batch struct {
	cfg   BatchConfig
	alloc *token.Allocator
	left  int
	pool  []byte // unread random bytes
}

// seedBlock is how many seeds are read from Rand at once.
const seedBlock = 512

// NewBatch checks cfg and returns its records' source.
func NewBatch(cfg BatchConfig) (*Batch, error) {
	if cfg.Count <= 0 {
		return nil, fmt.Errorf("%w: count %d (want at least 1)", ErrBatch, cfg.Count)
	}
	if !cfg.Model.TOTP() {
		return nil, fmt.Errorf("%w: model %v makes no OATH tokens", ErrBatch, cfg.Model)
	}
	if cfg.Spec == (token.Spec{}) {
		cfg.Spec = cfg.Model.DefaultSpec()
	}
	if err := cfg.Spec.Validate(); err != nil {
		return nil, err
	}
	if cfg.Manufacturer == "" {
		cfg.Manufacturer = DefaultManufacturer
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	var alloc *token.Allocator
	var err error
	if cfg.After != "" {
		if cfg.Prefix != "" && cfg.Prefix != string(cfg.After[:min(4, len(cfg.After))]) {
			return nil, fmt.Errorf("%w: --after %s does not carry prefix %s", ErrBatch, cfg.After, cfg.Prefix)
		}
		alloc, err = token.AllocatorAfter(cfg.After)
	} else {
		alloc, err = token.NewAllocator(cfg.Prefix, cfg.Start)
	}
	if err != nil {
		return nil, err
	}
	if uint64(cfg.Count) > alloc.Remaining() {
		return nil, fmt.Errorf("%w: %d tokens asked, only %d serials left under this prefix", ErrBatch, cfg.Count, alloc.Remaining())
	}
	return &Batch{cfg: cfg, alloc: alloc, left: cfg.Count}, nil
}

// Len returns how many records Next will still return.
func (b *Batch) Len() int { return b.left }

// Next returns the next record, or io.EOF after the last.
func (b *Batch) Next() (Record, error) {
	if b.left == 0 {
		return Record{}, io.EOF
	}
	serial, err := b.alloc.Next()
	if err != nil {
		return Record{}, err
	}
	n := b.cfg.Spec.Algorithm.SeedSize()
	if len(b.pool) < n {
		// A fresh block each time: records handed out keep their seeds.
		b.pool = make([]byte, n*min(seedBlock, b.left))
		if _, err := io.ReadFull(b.cfg.Rand, b.pool); err != nil {
			return Record{}, fmt.Errorf("provision: reading seeds: %w", err)
		}
	}
	seed := token.Seed(b.pool[:n:n])
	b.pool = b.pool[n:]
	b.left--
	return Record{
		Serial: serial, Model: b.cfg.Model, Type: token.TOTP, Spec: b.cfg.Spec, Seed: seed,
		Issuer: b.cfg.Issuer, Manufacturer: b.cfg.Manufacturer,
	}, nil
}
