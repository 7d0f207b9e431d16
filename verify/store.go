package verify

import (
	"context"
	"time"
)

// Store is where a [Service] keeps its state: the sqlite and postgres
// packages implement it, and storetest.Run checks both against one suite.
//
// Public methods of Service open a transaction with Update or View and call
// the typed helpers of [Tx]. The hot path (Check, CreateSession) uses Batch,
// which a store may group-commit: one writer gathers concurrent calls into
// one transaction, each call inside its own savepoint, and answers every
// caller after the commit. Correctness across processes never rests on the
// transaction's isolation alone: every state change that must happen at most
// once is a conditional update ([Tx.AdvanceStep], [Tx.Assign]).
type Store interface {
	// Update runs fn in a read-write transaction, committed durably (on
	// disk before Update returns) when fn returns nil, rolled back otherwise.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Batch is Update for short decisions that may share one transaction
	// (and one fsync) with other concurrent Batch calls. When fn returns an
	// error its changes are undone and the other calls unaffected; fn may
	// therefore run more than once (only its last run counts), so it must
	// set its results afresh on every run.
	Batch(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// Peeker is an optional capability of a [Store], found by type assertion.
// Peek runs fn on a read-only connection outside any explicit transaction,
// so that each statement fn makes reads its own consistent snapshot, and a
// caller's cancellation does not interrupt a statement once started. It is
// for the hot path's reads of one statement ([Tx.UserDevice],
// [Tx.AccessKey]), where BEGIN and COMMIT would cost as much as the query.
type Peeker interface {
	Peek(ctx context.Context, fn func(Tx) error) error
}

// BatchReader is an optional capability of a [Store], found by type
// assertion. ReadsInBatch reports that reading inside Batch is cheaper
// than a Peek before it, so that a code check reads its user and device in
// the group commit itself. That holds for SQLite, whose group-commit
// writer keeps its page cache while a reader's starts over after every
// commit; not for a server database, where each read inside the batch is
// a round trip that every other operation of the batch waits for.
type BatchReader interface {
	ReadsInBatch() bool
}

// StoreStats counts a store's own work since it was opened, for the
// operators' metrics (GET /metrics). Every count only grows; the log's
// sizes are gauges.
type StoreStats struct {
	// Commits is how many group commits the store made, Operations how
	// many operations they held: their ratio is the mean batch size.
	Commits, Operations int64
	// Syncs is how many fsyncs made committed batches durable, SyncTime
	// the time spent in them: zero where the database server syncs
	// (PostgreSQL).
	Syncs    int64
	SyncTime time.Duration
	// Checkpoints is how many background passes copied SQLite's
	// write-ahead log into the database. After the last one the log held
	// WALFrames frames (a page each), WALCheckpointed of them copied: the
	// rest is the lag of the database file behind the log.
	Checkpoints, WALFrames, WALCheckpointed int64
	// StepLog is how many devices have an accepted step in SQLite's step
	// log not yet swept into step_fold (a gauge; see sqltx.StepLog).
	StepLog int64
	// DeviceCache is how many devices the SQLite writer holds in memory
	// (a gauge; see sqltx.DeviceCache).
	DeviceCache int64
}

// StatsReporter is an optional capability of a [Store], found by type
// assertion: the counts of its work.
type StatsReporter interface {
	Stats() StoreStats
}

// Tx is a transaction's typed helpers. Not-found lookups return an *Error
// with ENOTFOUND, inserts of an existing key ECONFLICT; anything else is an
// internal error. Lists return at most limit items whose key sorts after
// the key given as after.
type Tx interface {
	CreateUser(ctx context.Context, u *UserRecord) error
	// User finds a user by name, case-insensitively as IAM does.
	User(ctx context.Context, name string) (*UserRecord, error)
	// LockUser is User that also locks the row until the transaction ends
	// (SELECT … FOR UPDATE), so concurrent enables count devices in turn.
	LockUser(ctx context.Context, name string) (*UserRecord, error)
	Users(ctx context.Context, pathPrefix, after string, limit int) ([]*UserRecord, error)
	UpdateUser(ctx context.Context, u *UserRecord) error // password, admin, require_mfa
	DeleteUser(ctx context.Context, name string) error

	CreateDevice(ctx context.Context, d *DeviceRecord) error
	Device(ctx context.Context, id string) (*DeviceRecord, error)
	// UserDevice reads, in one statement, user's canonical name and the
	// device id: what a code check needs, and only that (the record lacks
	// Tags, CreatedAt, EnabledAt and Failures). ENOTFOUND for the user
	// comes first, as with User then Device.
	UserDevice(ctx context.Context, user, id string) (name string, d *DeviceRecord, err error)
	Devices(ctx context.Context, f DeviceFilter, after string, limit int) ([]*DeviceRecord, error)
	CountDevices(ctx context.Context, user string) (int, error)
	DeleteDevice(ctx context.Context, id string) error
	// Assign gives an available device to a user if and only if it is
	// still available and its last accepted step is below a.Above; it then
	// records a.Step as used and a.Drift as its offset. It reports whether
	// the device was assigned.
	Assign(ctx context.Context, a StepUpdate) (bool, error)
	// AdvanceStep is the replay guard: it records a.Step as the device's
	// last accepted step, a.Drift as its offset, and clears its failures,
	// if and only if the device is still assigned to a.User, not locked at
	// a.Now, and its last accepted step is below a.Above (compare-and-set).
	AdvanceStep(ctx context.Context, a StepUpdate) (bool, error)
	// RecordFailure adds one consecutive failure and sets locked_until to
	// lock(failures) (the zero time: not locked).
	RecordFailure(ctx context.Context, id string, lock func(failures int) time.Time) (failures int, lockedUntil time.Time, err error)
	// Detach takes a device from its user and gives it state (available or
	// lost), clearing failures and lock; the last accepted step stays. It
	// returns the user it was attached to ("" if none).
	Detach(ctx context.Context, id string, state State) (user string, err error)
	Unlock(ctx context.Context, id string) error
	SetTags(ctx context.Context, id string, tags map[string]string) error

	CreateAccessKey(ctx context.Context, k *AccessKeyRecord) error
	AccessKey(ctx context.Context, id string) (*AccessKeyRecord, error)
	// AccessKeys lists a user's keys; sessions says whether to list
	// session (STS) keys instead of long-term ones.
	AccessKeys(ctx context.Context, user string, sessions bool) ([]*AccessKeyRecord, error)
	DeleteAccessKey(ctx context.Context, id string) error
	// DeleteSessionKeys deletes a user's session keys ("" for every user's
	// expired ones only, with before set), returning how many.
	DeleteSessionKeys(ctx context.Context, user string, before time.Time) (int, error)

	CreateAPIToken(ctx context.Context, name string, hash []byte, created time.Time) error
	// APIToken finds the token whose SHA-256 is hash: its name and the
	// stored hash (for a constant-time comparison by the caller).
	APIToken(ctx context.Context, hash []byte) (name string, stored []byte, err error)

	// Reseal calls f for every sealed secret (device seeds, access key
	// secrets) and stores what it returns in place.
	Reseal(ctx context.Context, f func(s Sealed) (keyID string, ciphertext []byte, err error)) (int, error)
	// KeyUsage counts the sealed secrets under each KEK id.
	KeyUsage(ctx context.Context) (map[string]int, error)

	// AppendAudit records e and sets e.ID, except inside Batch, where the
	// events of one group commit are written together before it commits
	// and e.ID stays zero.
	AppendAudit(ctx context.Context, e *AuditEvent) error
	Audit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
}

// UserRecord is a user as stored.
type UserRecord struct {
	User
	PasswordHash string // PHC string ($argon2id$…), "" if none
}

// DeviceRecord is a device as stored: its seed only sealed.
type DeviceRecord struct {
	Device
	SealedSeed []byte // nonce ‖ AES-256-GCM(seed), nil for FIDO
	KeyID      string // KEK that sealed it
}

// AccessKeyRecord is an access key as stored: Secret and SessionToken are
// empty, sealed together in Sealed.
type AccessKeyRecord struct {
	AccessKey
	Session bool
	Sealed  []byte
	KeyID   string
}

// DeviceFilter selects devices; zero fields match everything.
type DeviceFilter struct {
	Kind     Kind
	State    State
	User     string
	Assigned Assignment // Assigned, Unassigned or "" / Any
}

// StepUpdate is the argument of the conditional updates.
type StepUpdate struct {
	ID    string
	User  string // Assign: the new owner; AdvanceStep: the expected owner
	Above uint64 // last_step must be < Above
	Step  uint64 // new last_step
	Drift int64  // new drift, in steps
	Now   time.Time
}

// SealedKind says which table a sealed secret lives in.
type SealedKind string

const (
	SealedSeed      SealedKind = "device"     // devices.seed
	SealedAccessKey SealedKind = "access-key" // access_keys.secret
)

// Sealed is one sealed secret handed to the function of [Tx.Reseal].
type Sealed struct {
	Kind       SealedKind
	ID         string
	KeyID      string
	Ciphertext []byte
}

// AAD is the associated data binding a sealed secret to its row.
func (s Sealed) AAD() []byte { return SealAAD(s.Kind, s.ID) }

// SealAAD is the associated data binding a sealed secret of kind to row id.
func SealAAD(kind SealedKind, id string) []byte {
	return []byte("tokenlab:" + string(kind) + ":" + id)
}

// Sealer seals secrets at rest; *seal.Sealer implements it.
type Sealer interface {
	Seal(plaintext, aad []byte) (keyID string, ciphertext []byte, err error)
	Open(keyID string, ciphertext, aad []byte) ([]byte, error)
}
