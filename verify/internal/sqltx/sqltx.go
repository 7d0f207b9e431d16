// Package sqltx is the SQL both stores share: verify.Tx written once over
// a small connection interface, in the SQL common to SQLite and PostgreSQL
// ($N placeholders, ON CONFLICT, RETURNING, SAVEPOINT), plus the group
// commit writer ([Batcher]). Each store adapts its driver to [Conn] and
// supplies a [Dialect] for what differs.
package sqltx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
)

// Conn is a transaction of either driver.
type Conn interface {
	Exec(ctx context.Context, q string, args ...any) (rowsAffected int64, err error)
	Query(ctx context.Context, q string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, q string, args ...any) Row
}

// Row is one result row.
type Row interface{ Scan(dest ...any) error }

// Rows is a result set.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Dialect is what differs between the stores.
type Dialect struct {
	ForUpdate string           // appended to SELECTs by LockUser
	Devices   string           // what device reads select from: devices, or a view of it with the same columns
	IsUnique  func(error) bool // a unique-constraint violation
	IsNoRows  func(error) bool // QueryRow found nothing
}

// Tx implements verify.Tx over a Conn.
type Tx struct {
	C Conn
	D *Dialect

	// S, when set (SQLite), is the transaction's view of the store's
	// StepLog: device reads take their logged steps from it, AdvanceStep
	// appends to it, and other writes to a device fold its step first.
	S *StepTx

	// audit, when set (inside a group commit), collects the events of
	// AppendAudit for one multi-row INSERT before the commit (flushAudit).
	audit *[]*verify.AuditEvent
}

// patch gives d its logged step, if the store keeps a log.
func (x *Tx) patch(ctx context.Context, d *verify.DeviceRecord) error {
	if x.S == nil {
		return nil
	}
	return x.S.Patch(ctx, x.C, d)
}

// fold writes device id's newest step (in the log or swept out of it)
// into its row before another write.
func (x *Tx) fold(ctx context.Context, id string) error {
	if x.S == nil {
		return nil
	}
	return x.S.Fold(ctx, x.C, id)
}

var _ verify.Tx = (*Tx)(nil)

func t2i(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func i2t(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func (x *Tx) notFound(err error, format string, a ...any) error {
	if x.D.IsNoRows(err) {
		return verify.Errorf(verify.ENOTFOUND, format, a...)
	}
	return err
}

// ---- users

const userCols = `name, id, path, arn, admin, require_mfa, password, created_at`

func scanUser(r Row) (*verify.UserRecord, error) {
	var u verify.UserRecord
	var admin, req, created int64
	if err := r.Scan(&u.Name, &u.ID, &u.Path, &u.Arn, &admin, &req, &u.PasswordHash, &created); err != nil {
		return nil, err
	}
	u.Admin, u.RequireMFA, u.CreatedAt = admin != 0, req != 0, i2t(created)
	return &u, nil
}

func (x *Tx) CreateUser(ctx context.Context, u *verify.UserRecord) error {
	n, err := x.C.Exec(ctx, `INSERT INTO users (name_key, `+userCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
		strings.ToLower(u.Name), u.Name, u.ID, u.Path, u.Arn, b2i(u.Admin), b2i(u.RequireMFA), u.PasswordHash, t2i(u.CreatedAt))
	if err == nil && n == 0 || err != nil && x.D.IsUnique(err) {
		return &verify.Error{Code: verify.ECONFLICT, Message: fmt.Sprintf("User with name %s already exists.", u.Name), IAMCode: "EntityAlreadyExists"}
	}
	return err
}

func (x *Tx) User(ctx context.Context, name string) (*verify.UserRecord, error) {
	u, err := scanUser(x.C.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE name_key = $1`, strings.ToLower(name)))
	if err != nil {
		return nil, x.notFound(err, "The user with name %s cannot be found.", name)
	}
	return u, nil
}

func (x *Tx) LockUser(ctx context.Context, name string) (*verify.UserRecord, error) {
	u, err := scanUser(x.C.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE name_key = $1`+x.D.ForUpdate, strings.ToLower(name)))
	if err != nil {
		return nil, x.notFound(err, "The user with name %s cannot be found.", name)
	}
	return u, nil
}

func (x *Tx) Users(ctx context.Context, pathPrefix, after string, limit int) ([]*verify.UserRecord, error) {
	q := `SELECT ` + userCols + ` FROM users WHERE name_key > $1`
	args := []any{strings.ToLower(after)}
	if pathPrefix != "" && pathPrefix != "/" {
		q += ` AND substr(path, 1, ` + strconv.Itoa(len(pathPrefix)) + `) = $2`
		args = append(args, pathPrefix)
	}
	q += ` ORDER BY name_key LIMIT ` + strconv.Itoa(limit)
	rows, err := x.C.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*verify.UserRecord
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

func (x *Tx) UpdateUser(ctx context.Context, u *verify.UserRecord) error {
	n, err := x.C.Exec(ctx, `UPDATE users SET password = $2, admin = $3, require_mfa = $4 WHERE name_key = $1`,
		strings.ToLower(u.Name), u.PasswordHash, b2i(u.Admin), b2i(u.RequireMFA))
	if err == nil && n == 0 {
		return verify.Errorf(verify.ENOTFOUND, "The user with name %s cannot be found.", u.Name)
	}
	return err
}

func (x *Tx) DeleteUser(ctx context.Context, name string) error {
	n, err := x.C.Exec(ctx, `DELETE FROM users WHERE name_key = $1`, strings.ToLower(name))
	if err == nil && n == 0 {
		return verify.Errorf(verify.ENOTFOUND, "The user with name %s cannot be found.", name)
	}
	return err
}

// ---- devices

const deviceCols = `id, kind, state, user_name, algorithm, digits, period, seed, key_id, enabled_at, created_at, drift, last_step, failures, locked_until, tags`

// scanDevice scans the deviceCols of r, after the destinations of pre.
func scanDevice(r Row, pre ...any) (*verify.DeviceRecord, error) {
	var d verify.DeviceRecord
	var kind, state, tags string
	var alg, digits, period, enabled, created, last, failures, locked int64
	dest := append(pre, &d.ID, &kind, &state, &d.User, &alg, &digits, &period, &d.SealedSeed, &d.KeyID,
		&enabled, &created, &d.Drift, &last, &failures, &locked, &tags)
	if err := r.Scan(dest...); err != nil {
		return nil, err
	}
	d.Kind, d.State = verify.Kind(kind), verify.State(state)
	d.Spec = token.Spec{Algorithm: token.Algorithm(alg), Digits: int(digits), Period: time.Duration(period) * time.Second}
	d.EnabledAt, d.CreatedAt, d.LockedUntil = i2t(enabled), i2t(created), i2t(locked)
	d.LastStep, d.Failures = uint64(last), int(failures)
	if len(d.SealedSeed) == 0 {
		d.SealedSeed = nil
	}
	if tags != "" {
		if err := json.Unmarshal([]byte(tags), &d.Tags); err != nil {
			return nil, fmt.Errorf("device %s: tags: %w", d.ID, err)
		}
	}
	return &d, nil
}

func tagsJSON(t map[string]string) string {
	if len(t) == 0 {
		return ""
	}
	b, _ := json.Marshal(t)
	return string(b)
}

func (x *Tx) CreateDevice(ctx context.Context, d *verify.DeviceRecord) error {
	seed := d.SealedSeed
	if seed == nil {
		seed = []byte{}
	}
	n, err := x.C.Exec(ctx, `INSERT INTO devices (`+deviceCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT DO NOTHING`,
		d.ID, string(d.Kind), string(d.State), d.User, int64(d.Spec.Algorithm), int64(d.Spec.Digits), int64(d.Spec.Period/time.Second),
		seed, d.KeyID, t2i(d.EnabledAt), t2i(d.CreatedAt), d.Drift, int64(d.LastStep), int64(d.Failures), t2i(d.LockedUntil), tagsJSON(d.Tags))
	if err == nil && n == 0 || err != nil && x.D.IsUnique(err) {
		return &verify.Error{Code: verify.ECONFLICT, Message: "MFA device already exists.", IAMCode: "EntityAlreadyExists"}
	}
	if err == nil && x.S != nil {
		x.S.Invalidate(d.ID)
	}
	return err
}

func noDevice(id string) error {
	return verify.Errorf(verify.ENOTFOUND, "MFA Device with serial number %s does not exist.", id)
}

func (x *Tx) Device(ctx context.Context, id string) (*verify.DeviceRecord, error) {
	d, err := scanDevice(x.C.QueryRow(ctx, `SELECT `+deviceCols+` FROM `+x.D.Devices+` WHERE id = $1`, id))
	if err != nil {
		if x.D.IsNoRows(err) {
			return nil, noDevice(id)
		}
		return nil, err
	}
	return d, x.patch(ctx, d)
}

// UserDevice reads user's canonical name and device in one statement (one
// snapshot, no transaction needed), with only the columns a code check
// uses (checkCols). The name comes from the device row when the device is
// assigned to that user (a user with devices cannot be deleted, so the
// user exists), else from a scalar subquery on users, which the CASE
// evaluates only then. Only when the device is missing does it ask a
// second time, to report the user first as IAM does.
func (x *Tx) UserDevice(ctx context.Context, user, device string) (string, *verify.DeviceRecord, error) {
	if x.S != nil {
		// The writer's device cache: the name is the row's when it is the
		// user's (as the statement's CASE has it); otherwise, and on a
		// miss, the statement.
		if d, ok := x.S.Cached(device); ok && d.User != "" && asciiEqualFold(d.User, user) {
			return d.User, d, x.patch(ctx, d)
		}
	}
	var name string
	key := strings.ToLower(user)
	d, err := scanCheckDevice(x.C.QueryRow(ctx, `SELECT CASE WHEN lower(user_name) = $1 THEN user_name
		ELSE coalesce((SELECT name FROM users WHERE name_key = $1), '') END, `+checkCols+` FROM `+x.D.Devices+` WHERE id = $2`,
		key, device), &name)
	if err != nil {
		if !x.D.IsNoRows(err) {
			return "", nil, err
		}
		if _, err := x.User(ctx, user); err != nil {
			return "", nil, err
		}
		return "", nil, noDevice(device)
	}
	if name == "" {
		return "", nil, verify.Errorf(verify.ENOTFOUND, "The user with name %s cannot be found.", user)
	}
	if x.S != nil {
		x.S.Fill(d)
	}
	return name, d, x.patch(ctx, d)
}

// asciiEqualFold is SQLite's lower(a) = lower(b): ASCII letters only.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// checkCols are the device columns a code check reads: not the tags, the
// times of creation and enabling or the failure count.
const checkCols = `id, kind, state, user_name, algorithm, digits, period, seed, key_id, drift, last_step, locked_until`

// scanCheckDevice scans the checkCols of r, after the destinations of pre.
func scanCheckDevice(r Row, pre ...any) (*verify.DeviceRecord, error) {
	// The destinations in one allocation with the record, not one each.
	v := new(struct {
		d                                 verify.DeviceRecord
		kind, state                       string
		alg, digits, period, last, locked int64
	})
	d := &v.d
	dest := append(pre, &d.ID, &v.kind, &v.state, &d.User, &v.alg, &v.digits, &v.period, &d.SealedSeed, &d.KeyID, &d.Drift, &v.last, &v.locked)
	if err := r.Scan(dest...); err != nil {
		return nil, err
	}
	d.Kind, d.State = verify.Kind(v.kind), verify.State(v.state)
	d.Spec = token.Spec{Algorithm: token.Algorithm(v.alg), Digits: int(v.digits), Period: time.Duration(v.period) * time.Second}
	d.LockedUntil, d.LastStep = i2t(v.locked), uint64(v.last)
	if len(d.SealedSeed) == 0 {
		d.SealedSeed = nil
	}
	return d, nil
}

func (x *Tx) Devices(ctx context.Context, f verify.DeviceFilter, after string, limit int) ([]*verify.DeviceRecord, error) {
	q := `SELECT ` + deviceCols + ` FROM ` + x.D.Devices + ` WHERE id > $1`
	args := []any{after}
	add := func(cond string, v any) {
		args = append(args, v)
		q += " AND " + strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args)))
	}
	if f.Kind != "" {
		add("kind = ?", string(f.Kind))
	}
	if f.State != "" {
		add("state = ?", string(f.State))
	}
	if f.User != "" {
		add("user_name = ?", f.User)
	}
	switch f.Assigned {
	case verify.AssignmentAssigned:
		add("state = ?", string(verify.StateAssigned))
	case verify.AssignmentUnassigned:
		add("state <> ?", string(verify.StateAssigned))
	}
	q += ` ORDER BY id`
	if limit > 0 {
		q += ` LIMIT ` + strconv.Itoa(limit)
	}
	rows, err := x.C.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*verify.DeviceRecord
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close() // before patch's statements, on the same connection
	for _, d := range out {
		if err := x.patch(ctx, d); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (x *Tx) CountDevices(ctx context.Context, user string) (int, error) {
	var n int64
	err := x.C.QueryRow(ctx, `SELECT count(*) FROM devices WHERE user_name = $1`, user).Scan(&n)
	return int(n), err
}

func (x *Tx) DeleteDevice(ctx context.Context, id string) error {
	if x.S != nil {
		if err := x.S.Forget(ctx, x.C, id); err != nil {
			return err
		}
	}
	n, err := x.C.Exec(ctx, `DELETE FROM devices WHERE id = $1`, id)
	if err == nil && n == 0 {
		return noDevice(id)
	}
	return err
}

func (x *Tx) Assign(ctx context.Context, a verify.StepUpdate) (bool, error) {
	if err := x.fold(ctx, a.ID); err != nil {
		return false, err
	}
	n, err := x.C.Exec(ctx, `UPDATE devices SET state = 'assigned', user_name = $2, last_step = $4, drift = $5,
		enabled_at = $6, failures = 0, locked_until = 0
		WHERE id = $1 AND state = 'available' AND user_name = '' AND last_step < $3`,
		a.ID, a.User, int64(a.Above), int64(a.Step), a.Drift, t2i(a.Now))
	return n == 1, err
}

func (x *Tx) AdvanceStep(ctx context.Context, a verify.StepUpdate) (bool, error) {
	if x.S != nil {
		if won, handled, err := x.S.Advance(ctx, x.C, a); err != nil || handled {
			return won, err
		}
	}
	// Pointers into one struct: one allocation, not one per argument
	// (this is the hot path of every accepted code).
	v := struct {
		id, user                  string
		above, step, drift, until int64
	}{a.ID, a.User, int64(a.Above), int64(a.Step), a.Drift, t2i(a.Now)}
	n, err := x.C.Exec(ctx, `UPDATE devices SET last_step = $4, drift = $5, failures = 0, locked_until = 0
		WHERE id = $1 AND user_name = $2 AND state = 'assigned' AND last_step < $3 AND locked_until <= $6`,
		&v.id, &v.user, &v.above, &v.step, &v.drift, &v.until)
	return n == 1, err
}

func (x *Tx) RecordFailure(ctx context.Context, id string, lock func(int) time.Time) (int, time.Time, error) {
	if err := x.fold(ctx, id); err != nil {
		return 0, time.Time{}, err
	}
	var f int64
	err := x.C.QueryRow(ctx, `UPDATE devices SET failures = failures + 1 WHERE id = $1 RETURNING failures`, id).Scan(&f)
	if err != nil {
		if x.D.IsNoRows(err) {
			return 0, time.Time{}, noDevice(id)
		}
		return 0, time.Time{}, err
	}
	until := lock(int(f))
	if !until.IsZero() {
		if _, err := x.C.Exec(ctx, `UPDATE devices SET locked_until = $2 WHERE id = $1`, id, t2i(until)); err != nil {
			return 0, time.Time{}, err
		}
	}
	return int(f), until, nil
}

func (x *Tx) Detach(ctx context.Context, id string, state verify.State) (string, error) {
	if err := x.fold(ctx, id); err != nil {
		return "", err
	}
	var user string
	err := x.C.QueryRow(ctx, `SELECT user_name FROM devices WHERE id = $1`+x.D.ForUpdate, id).Scan(&user)
	if err != nil {
		if x.D.IsNoRows(err) {
			return "", noDevice(id)
		}
		return "", err
	}
	_, err = x.C.Exec(ctx, `UPDATE devices SET state = $2, user_name = '', enabled_at = 0, failures = 0, locked_until = 0
		WHERE id = $1`, id, string(state))
	return user, err
}

func (x *Tx) Unlock(ctx context.Context, id string) error {
	if err := x.fold(ctx, id); err != nil {
		return err
	}
	n, err := x.C.Exec(ctx, `UPDATE devices SET failures = 0, locked_until = 0 WHERE id = $1`, id)
	if err == nil && n == 0 {
		return noDevice(id)
	}
	return err
}

func (x *Tx) SetTags(ctx context.Context, id string, tags map[string]string) error {
	n, err := x.C.Exec(ctx, `UPDATE devices SET tags = $2 WHERE id = $1`, id, tagsJSON(tags))
	if err == nil && n == 0 {
		return noDevice(id)
	}
	return err
}

// ---- access keys

const keyCols = `id, user_name, status, created_at, secret, key_id, session, expires, mfa, mfa_device`

func scanKey(r Row) (*verify.AccessKeyRecord, error) {
	var k verify.AccessKeyRecord
	var created, session, expires, mfa int64
	if err := r.Scan(&k.ID, &k.User, &k.Status, &created, &k.Sealed, &k.KeyID, &session, &expires, &mfa, &k.MFADevice); err != nil {
		return nil, err
	}
	k.CreatedAt, k.Session, k.Expires, k.MFA = i2t(created), session != 0, i2t(expires), mfa != 0
	return &k, nil
}

func (x *Tx) CreateAccessKey(ctx context.Context, k *verify.AccessKeyRecord) error {
	n, err := x.C.Exec(ctx, `INSERT INTO access_keys (`+keyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
		k.ID, k.User, k.Status, t2i(k.CreatedAt), k.Sealed, k.KeyID, b2i(k.Session), t2i(k.Expires), b2i(k.MFA), k.MFADevice)
	if err == nil && n == 0 || err != nil && x.D.IsUnique(err) {
		return verify.Errorf(verify.ECONFLICT, "access key %s already exists", k.ID)
	}
	return err
}

func (x *Tx) AccessKey(ctx context.Context, id string) (*verify.AccessKeyRecord, error) {
	k, err := scanKey(x.C.QueryRow(ctx, `SELECT `+keyCols+` FROM access_keys WHERE id = $1`, id))
	if err != nil {
		return nil, x.notFound(err, "The Access Key with id %s cannot be found.", id)
	}
	return k, nil
}

func (x *Tx) AccessKeys(ctx context.Context, user string, sessions bool) ([]*verify.AccessKeyRecord, error) {
	rows, err := x.C.Query(ctx, `SELECT `+keyCols+` FROM access_keys WHERE user_name = $1 AND session = $2 ORDER BY created_at, id`, user, b2i(sessions))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*verify.AccessKeyRecord
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func (x *Tx) DeleteAccessKey(ctx context.Context, id string) error {
	n, err := x.C.Exec(ctx, `DELETE FROM access_keys WHERE id = $1`, id)
	if err == nil && n == 0 {
		return verify.Errorf(verify.ENOTFOUND, "The Access Key with id %s cannot be found.", id)
	}
	return err
}

func (x *Tx) DeleteSessionKeys(ctx context.Context, user string, before time.Time) (int, error) {
	q, args := `DELETE FROM access_keys WHERE session = 1`, []any{}
	if user != "" {
		args = append(args, user)
		q += ` AND user_name = $1`
	}
	if !before.IsZero() {
		args = append(args, t2i(before))
		q += ` AND expires < $` + strconv.Itoa(len(args))
	}
	n, err := x.C.Exec(ctx, q, args...)
	return int(n), err
}

// ---- API tokens

func (x *Tx) CreateAPIToken(ctx context.Context, name string, hash []byte, created time.Time) error {
	n, err := x.C.Exec(ctx, `INSERT INTO api_tokens (name, hash, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, name, hash, t2i(created))
	if err == nil && n == 0 || err != nil && x.D.IsUnique(err) {
		return verify.Errorf(verify.ECONFLICT, "API token %s already exists", name)
	}
	return err
}

func (x *Tx) APIToken(ctx context.Context, hash []byte) (string, []byte, error) {
	var name string
	var stored []byte
	err := x.C.QueryRow(ctx, `SELECT name, hash FROM api_tokens WHERE hash = $1`, hash).Scan(&name, &stored)
	if err != nil {
		if x.D.IsNoRows(err) {
			return "", nil, verify.Errorf(verify.EUNAUTHORIZED, "unknown API token")
		}
		return "", nil, err
	}
	return name, stored, nil
}

// ---- sealing

func (x *Tx) Reseal(ctx context.Context, f func(verify.Sealed) (string, []byte, error)) (int, error) {
	if x.S != nil {
		x.S.ClearCache()
	}
	var items []verify.Sealed
	for _, t := range []struct {
		kind verify.SealedKind
		q    string
	}{
		{verify.SealedSeed, `SELECT id, key_id, seed FROM devices WHERE key_id <> '' ORDER BY id`},
		{verify.SealedAccessKey, `SELECT id, key_id, secret FROM access_keys ORDER BY id`},
	} {
		rows, err := x.C.Query(ctx, t.q)
		if err != nil {
			return 0, err
		}
		for rows.Next() {
			s := verify.Sealed{Kind: t.kind}
			if err := rows.Scan(&s.ID, &s.KeyID, &s.Ciphertext); err != nil {
				rows.Close()
				return 0, err
			}
			items = append(items, s)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return 0, err
		}
	}
	for _, s := range items {
		id, ct, err := f(s)
		if err != nil {
			return 0, err
		}
		q := `UPDATE devices SET key_id = $2, seed = $3 WHERE id = $1`
		if s.Kind == verify.SealedAccessKey {
			q = `UPDATE access_keys SET key_id = $2, secret = $3 WHERE id = $1`
		}
		if _, err := x.C.Exec(ctx, q, s.ID, id, ct); err != nil {
			return 0, err
		}
	}
	return len(items), nil
}

func (x *Tx) KeyUsage(ctx context.Context) (map[string]int, error) {
	rows, err := x.C.Query(ctx, `SELECT key_id, count(*) FROM devices WHERE key_id <> '' GROUP BY key_id
		UNION ALL SELECT key_id, count(*) FROM access_keys GROUP BY key_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[string]int{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		m[id] += int(n)
	}
	return m, rows.Err()
}

// ---- audit

func (x *Tx) AppendAudit(ctx context.Context, e *verify.AuditEvent) error {
	if x.audit != nil {
		*x.audit = append(*x.audit, e)
		return nil
	}
	return x.C.QueryRow(ctx, `INSERT INTO audit (time, actor, action, user_name, device, outcome, reason, source)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		t2i(e.Time), e.Actor, e.Action, e.User, e.Device, e.Outcome, e.Reason, e.Source).Scan(&e.ID)
}

// auditRows is how many events one INSERT of flushAudit carries at most:
// 8 parameters each, far below both databases' limits.
const auditRows = 128

// flushAudit inserts the events AppendAudit collected, auditRows to a
// statement, and forgets them. Their IDs stay zero: nothing on the hot
// path reads them, and RETURNING a row each would cost a result set.
func (x *Tx) flushAudit(ctx context.Context) error {
	evs := *x.audit
	*x.audit = evs[:0]
	times := make([]int64, len(evs))
	return auditInsert.exec(ctx, x.C, len(evs), func(args []any, i int) []any {
		e := evs[i]
		times[i] = t2i(e.Time)
		return append(args, &times[i], &e.Actor, &e.Action, &e.User, &e.Device, &e.Outcome, &e.Reason, &e.Source)
	})
}

var auditInsert = rowsInsert{head: `INSERT INTO audit (time, actor, action, user_name, device, outcome, reason, source) VALUES `, cols: 8, max: auditRows}

// rowsInsert is a multi-row INSERT: head, then n tuples of cols
// parameters each ($1 to $cols·n), at most max to a statement. It keeps
// the text for each n.
type rowsInsert struct {
	head      string
	cols, max int
	mu        sync.Mutex
	q         map[int]string
}

// exec inserts n rows in c, max to a statement; add appends row i's
// arguments. They should point into the rows rather than copy their
// values into interface values, which would cost an allocation each.
func (r *rowsInsert) exec(ctx context.Context, c Conn, n int, add func(args []any, i int) []any) error {
	args := make([]any, 0, r.cols*min(n, r.max))
	for start := 0; start < n; start += r.max {
		k := min(n-start, r.max)
		args = args[:0]
		for i := start; i < start+k; i++ {
			args = add(args, i)
		}
		if _, err := c.Exec(ctx, r.text(k), args...); err != nil {
			return err
		}
	}
	return nil
}

func (r *rowsInsert) text(n int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if q, ok := r.q[n]; ok {
		return q
	}
	var q strings.Builder
	q.WriteString(r.head)
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteByte('(')
		for j := 1; j <= r.cols; j++ {
			if j > 1 {
				q.WriteString(", ")
			}
			q.WriteByte('$')
			q.WriteString(strconv.Itoa(r.cols*i + j))
		}
		q.WriteByte(')')
	}
	if r.q == nil {
		r.q = map[int]string{}
	}
	r.q[n] = q.String()
	return r.q[n]
}

func (x *Tx) Audit(ctx context.Context, f verify.AuditFilter) ([]verify.AuditEvent, error) {
	q := `SELECT id, time, actor, action, user_name, device, outcome, reason, source FROM audit WHERE 1 = 1`
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		q += " AND " + strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args)))
	}
	if f.User != "" {
		add("user_name = ?", f.User)
	}
	if f.Device != "" {
		add("device = ?", f.Device)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if !f.Since.IsZero() {
		add("time >= ?", t2i(f.Since))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += ` ORDER BY id DESC LIMIT ` + strconv.Itoa(limit)
	rows, err := x.C.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []verify.AuditEvent
	for rows.Next() {
		var e verify.AuditEvent
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.User, &e.Device, &e.Outcome, &e.Reason, &e.Source); err != nil {
			return nil, err
		}
		e.Time = i2t(t)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ErrClosed is returned by Batch after the store is closed.
var ErrClosed = errors.New("verify: store closed")
