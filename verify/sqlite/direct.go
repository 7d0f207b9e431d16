package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"modernc.org/libc"
	"modernc.org/libc/sys/types"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tokenlab/tokenlab/verify/internal/sqltx"
)

// direct is the writer's connection, opened through SQLite's C API as
// modernc transpiles it (modernc.org/sqlite/lib) rather than through
// modernc's database/sql driver. The group-commit writer runs a handful of
// one-row statements per decision, and the driver's work around each of
// them cost more than SQLite's own: column names and declared types
// copied for every query, every argument copied into memory from the C
// allocator, a connection mutex (SQLITE_OPEN_FULLMUTEX) taken on every
// call, and database/sql's conversions on top. Here statements are
// prepared once, arguments are bound from one reused buffer, and only the
// values asked for are read.
//
// A direct is used by one goroutine at a time (whoever holds the writer
// pconn), so it is opened SQLITE_OPEN_NOMUTEX. Statements do not watch
// ctx once started: the writer's statements must not be interrupted
// anyway (see uncancelled), and a wait for another process's lock ends
// with busy_timeout.
type direct struct {
	tls   *libc.TLS
	db    uintptr
	stmts map[string]*dstmt

	// Memory from SQLite's allocator (the transpiled C code expects no
	// other): out receives SQLite's output parameters (a handle, a tail
	// pointer), buf the bytes of the text or blob being bound, or of the
	// SQL being prepared, NUL-terminated. SQLite copies them
	// (SQLITE_TRANSIENT) before the call returns.
	out    uintptr
	buf    uintptr
	bufCap int
}

// dstmt is a prepared statement with its $N parameters rewritten as ?
// (see positional).
type dstmt struct {
	p     uintptr
	order []int
	ncol  int
	busy  bool // a dRows is reading it
	owned bool // not in the cache: finalized when its rows close
}

// dError is an error reported by SQLite on the direct connection. Code is
// the extended result code, as modernc's *sqlite.Error reports it, so the
// dialect's IsUnique sees both alike.
type dError struct {
	code int
	msg  string
}

func (e *dError) Error() string { return fmt.Sprintf("%s (%d)", e.msg, e.code) }
func (e *dError) Code() int     { return e.code }

// transient tells SQLite to copy a bound value before bind returns.
const transient = ^uintptr(0) // SQLITE_TRANSIENT, (void*)-1

// openDirect opens path read-write for the writer, with extended result
// codes, synchronous=NORMAL (see walSync) and busy_timeout.
func openDirect(path string) (*direct, error) {
	c := &direct{tls: libc.NewTLS(), stmts: map[string]*dstmt{}}
	if c.out = libc.Xmalloc(c.tls, 2*8); c.out == 0 {
		c.close()
		return nil, errNoMemory
	}
	name, err := c.stage(nil, path)
	if err != nil {
		c.close()
		return nil, err
	}
	flags := int32(sqlite3.SQLITE_OPEN_READWRITE | sqlite3.SQLITE_OPEN_CREATE | sqlite3.SQLITE_OPEN_NOMUTEX | sqlite3.SQLITE_OPEN_EXRESCODE)
	c.setOut(0, 0)
	rc := sqlite3.Xsqlite3_open_v2(c.tls, name, c.out, flags, 0)
	c.db = c.outAt(0)
	if rc != sqlite3.SQLITE_OK {
		err := c.err(rc)
		c.close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if rc := sqlite3.Xsqlite3_busy_timeout(c.tls, c.db, int32(busyTimeout.Milliseconds())); rc != sqlite3.SQLITE_OK {
		err := c.err(rc)
		c.close()
		return nil, err
	}
	if _, err := c.Exec(context.Background(), "PRAGMA synchronous=NORMAL"); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *direct) close() {
	for _, st := range c.stmts {
		sqlite3.Xsqlite3_finalize(c.tls, st.p)
	}
	c.stmts = nil
	if c.db != 0 {
		sqlite3.Xsqlite3_close_v2(c.tls, c.db)
		c.db = 0
	}
	libc.Xfree(c.tls, c.out)
	libc.Xfree(c.tls, c.buf)
	c.out, c.buf, c.bufCap = 0, 0, 0
	c.tls.Close()
}

var errNoMemory = errors.New("sqlite: out of memory")

// outAt and setOut read and write the i-th output parameter.
func (c *direct) outAt(i int) uintptr {
	return uintptr(binary.NativeEndian.Uint64(libc.GoBytes(c.out+uintptr(8*i), 8)))
}

func (c *direct) setOut(a, b uintptr) {
	m := libc.GoBytes(c.out, 16)
	binary.NativeEndian.PutUint64(m, uint64(a))
	binary.NativeEndian.PutUint64(m[8:], uint64(b))
}

// err describes the connection's last error; rc is used when SQLite
// keeps no message for it.
func (c *direct) err(rc int32) error {
	if c.db == 0 {
		return &dError{code: int(rc), msg: "sqlite: " + libc.GoString(sqlite3.Xsqlite3_errstr(c.tls, rc))}
	}
	code := int(sqlite3.Xsqlite3_extended_errcode(c.tls, c.db))
	if code == sqlite3.SQLITE_OK {
		code = int(rc)
	}
	return &dError{code: code, msg: "sqlite: " + libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db))}
}

// stage copies b and s into buf, NUL-terminated, and returns its address.
func (c *direct) stage(b []byte, s string) (uintptr, error) {
	n := len(b) + len(s) + 1
	if n > c.bufCap {
		size := max(n, 2*c.bufCap, 512)
		p := libc.Xmalloc(c.tls, types.Size_t(size))
		if p == 0 {
			return 0, errNoMemory
		}
		libc.Xfree(c.tls, c.buf)
		c.buf, c.bufCap = p, size
	}
	m := libc.GoBytes(c.buf, n)
	k := copy(m, b)
	k += copy(m[k:], s)
	m[k] = 0
	return c.buf, nil
}

// stmt returns q prepared, from the cache unless it is reading rows
// already (a nested query of the same text gets a statement of its own).
func (c *direct) stmt(q string) (*dstmt, error) {
	if st, ok := c.stmts[q]; ok && !st.busy {
		return st, nil
	}
	text, order := positional(q)
	base, err := c.stage(nil, text)
	if err != nil {
		return nil, err
	}
	c.setOut(0, 0)
	rc := sqlite3.Xsqlite3_prepare_v3(c.tls, c.db, base, int32(len(text)+1), sqlite3.SQLITE_PREPARE_PERSISTENT, c.out, c.out+8)
	p, tail := c.outAt(0), c.outAt(1)
	if rc != sqlite3.SQLITE_OK {
		return nil, c.err(rc)
	}
	if p == 0 {
		return nil, errors.New("sqlite: empty statement")
	}
	if rest := text[min(int(tail-base), len(text)):]; strings.Trim(rest, " \t\r\n;") != "" {
		sqlite3.Xsqlite3_finalize(c.tls, p)
		return nil, fmt.Errorf("sqlite: one statement per call, found more after %q", text[:tail-base])
	}
	st := &dstmt{p: p, order: order, ncol: int(sqlite3.Xsqlite3_column_count(c.tls, p))}
	if _, ok := c.stmts[q]; ok {
		st.owned = true
	} else {
		c.stmts[q] = st
	}
	return st, nil
}

// bind binds args (by $N, see positional) to st's parameters. Besides the
// driver value types it takes *string and *int64 (nil is NULL), which the
// hot statements pass to spare an allocation per boxed value.
func (c *direct) bind(st *dstmt, args []any) error {
	for k, i := range st.order {
		if i < 0 || i >= len(args) {
			return fmt.Errorf("sqlite: missing argument $%d", i+1)
		}
		pos := int32(k + 1)
		var rc int32
		switch v := args[i].(type) {
		case nil:
			rc = sqlite3.Xsqlite3_bind_null(c.tls, st.p, pos)
		case int64:
			rc = sqlite3.Xsqlite3_bind_int64(c.tls, st.p, pos, v)
		case int:
			rc = sqlite3.Xsqlite3_bind_int64(c.tls, st.p, pos, int64(v))
		case int32:
			rc = sqlite3.Xsqlite3_bind_int64(c.tls, st.p, pos, int64(v))
		case uint32:
			rc = sqlite3.Xsqlite3_bind_int64(c.tls, st.p, pos, int64(v))
		case bool:
			var n int64
			if v {
				n = 1
			}
			rc = sqlite3.Xsqlite3_bind_int64(c.tls, st.p, pos, n)
		case float64:
			rc = sqlite3.Xsqlite3_bind_double(c.tls, st.p, pos, v)
		case string:
			p, err := c.stage(nil, v)
			if err != nil {
				return err
			}
			rc = sqlite3.Xsqlite3_bind_text(c.tls, st.p, pos, p, int32(len(v)), transient)
		case []byte:
			if v == nil { // as database/sql's drivers do: a nil slice is NULL
				rc = sqlite3.Xsqlite3_bind_null(c.tls, st.p, pos)
				break
			}
			p, err := c.stage(v, "")
			if err != nil {
				return err
			}
			rc = sqlite3.Xsqlite3_bind_blob(c.tls, st.p, pos, p, int32(len(v)), transient)
		case *string:
			if v == nil {
				rc = sqlite3.Xsqlite3_bind_null(c.tls, st.p, pos)
				break
			}
			p, err := c.stage(nil, *v)
			if err != nil {
				return err
			}
			rc = sqlite3.Xsqlite3_bind_text(c.tls, st.p, pos, p, int32(len(*v)), transient)
		case *int64:
			if v == nil {
				rc = sqlite3.Xsqlite3_bind_null(c.tls, st.p, pos)
				break
			}
			rc = sqlite3.Xsqlite3_bind_int64(c.tls, st.p, pos, *v)
		default:
			return fmt.Errorf("sqlite: argument $%d: unsupported type %T", i+1, v)
		}
		if rc != sqlite3.SQLITE_OK {
			return c.err(rc)
		}
	}
	return nil
}

// start prepares q and binds args.
func (c *direct) start(ctx context.Context, q string, args []any) (*dstmt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := c.stmt(q)
	if err != nil {
		return nil, err
	}
	if err := c.bind(st, args); err != nil {
		c.done(st)
		return nil, err
	}
	return st, nil
}

// done resets st for its next use (or finalizes it if it is not cached).
func (c *direct) done(st *dstmt) {
	st.busy = false
	if st.owned {
		sqlite3.Xsqlite3_finalize(c.tls, st.p)
		return
	}
	// The bound values stay until the next use binds its own: clearing
	// them (sqlite3_clear_bindings) marks a statement whose plan looked at
	// a parameter as expired, and SQLite then prepares it again on its
	// next step. A join of two tables on a key bound once (the device_view
	// reads) took 23 µs instead of 3 that way.
	sqlite3.Xsqlite3_reset(c.tls, st.p)
}

// step runs st one step: true with a row, false when done.
func (c *direct) step(st *dstmt) (bool, error) {
	switch rc := sqlite3.Xsqlite3_step(c.tls, st.p); rc {
	case sqlite3.SQLITE_ROW:
		return true, nil
	case sqlite3.SQLITE_DONE:
		return false, nil
	default:
		return false, c.err(rc)
	}
}

// Exec runs q to completion and returns the rows it changed.
func (c *direct) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	st, err := c.start(ctx, q, args)
	if err != nil {
		return 0, err
	}
	defer c.done(st)
	for {
		row, err := c.step(st)
		if err != nil {
			return 0, err
		}
		if !row {
			return int64(sqlite3.Xsqlite3_changes64(c.tls, c.db)), nil
		}
	}
}

// QueryRow runs q when Scan is called, as database/sql does.
func (c *direct) QueryRow(ctx context.Context, q string, args ...any) sqltx.Row {
	return dRow{c: c, ctx: ctx, q: q, args: args}
}

type dRow struct {
	c    *direct
	ctx  context.Context
	q    string
	args []any
}

// Scan reads the first row into dest; sql.ErrNoRows if there is none.
// The rest are not stepped through: SQLite makes all the changes of an
// UPDATE … RETURNING in its first step.
func (r dRow) Scan(dest ...any) error {
	c := r.c
	st, err := c.start(r.ctx, r.q, r.args)
	if err != nil {
		return err
	}
	defer c.done(st)
	row, err := c.step(st)
	if err != nil {
		return err
	}
	if !row {
		return sql.ErrNoRows
	}
	return c.scan(st, dest)
}

// Query returns q's rows; they must be closed.
func (c *direct) Query(ctx context.Context, q string, args ...any) (sqltx.Rows, error) {
	st, err := c.start(ctx, q, args)
	if err != nil {
		return nil, err
	}
	st.busy = true
	return &dRows{c: c, st: st}, nil
}

type dRows struct {
	c      *direct
	st     *dstmt
	err    error
	row    bool
	closed bool
}

func (r *dRows) Next() bool {
	if r.closed || r.err != nil {
		return false
	}
	r.row, r.err = r.c.step(r.st)
	if !r.row {
		r.Close()
	}
	return r.row
}

func (r *dRows) Scan(dest ...any) error {
	if !r.row || r.closed {
		return errors.New("sqlite: Scan without a row (call Next first)")
	}
	return r.c.scan(r.st, dest)
}

func (r *dRows) Err() error { return r.err }

func (r *dRows) Close() {
	if !r.closed {
		r.closed = true
		r.row = false
		r.c.done(r.st)
	}
}

// scan reads the current row of st into dest, converting as database/sql
// would for the destination types the stores use.
func (c *direct) scan(st *dstmt, dest []any) error {
	if len(dest) != st.ncol {
		return fmt.Errorf("sqlite: expected %d destination arguments in Scan, not %d", st.ncol, len(dest))
	}
	for i, d := range dest {
		if err := c.column(st, int32(i), d); err != nil {
			return fmt.Errorf("sqlite: Scan column %d: %w", i, err)
		}
	}
	return nil
}

// column reads column i into dest.
func (c *direct) column(st *dstmt, i int32, dest any) error {
	typ := sqlite3.Xsqlite3_column_type(c.tls, st.p, i)
	switch d := dest.(type) {
	case *int64:
		n, err := c.integer(st, i, typ)
		*d = n
		return err
	case *int:
		n, err := c.integer(st, i, typ)
		*d = int(n)
		return err
	case *bool:
		n, err := c.integer(st, i, typ)
		*d = n != 0
		return err
	case *float64:
		switch typ {
		case sqlite3.SQLITE_FLOAT, sqlite3.SQLITE_INTEGER:
			*d = sqlite3.Xsqlite3_column_double(c.tls, st.p, i)
			return nil
		}
		return fmt.Errorf("cannot store %s in *float64", typeName(typ))
	case *string:
		if typ == sqlite3.SQLITE_NULL {
			return errors.New("cannot store NULL in *string")
		}
		*d = string(c.bytes(st, i, typ))
		return nil
	case *[]byte:
		if typ == sqlite3.SQLITE_NULL {
			*d = nil
			return nil
		}
		*d = append([]byte{}, c.bytes(st, i, typ)...)
		return nil
	case *any:
		*d = c.value(st, i, typ)
		return nil
	case sql.Scanner:
		return d.Scan(c.value(st, i, typ))
	}
	return fmt.Errorf("unsupported destination %T", dest)
}

func (c *direct) integer(st *dstmt, i, typ int32) (int64, error) {
	switch typ {
	case sqlite3.SQLITE_INTEGER:
		return sqlite3.Xsqlite3_column_int64(c.tls, st.p, i), nil
	case sqlite3.SQLITE_TEXT:
		return strconv.ParseInt(string(c.bytes(st, i, typ)), 10, 64)
	}
	return 0, fmt.Errorf("cannot store %s in an integer", typeName(typ))
}

// bytes returns a column's text or blob, or an integer's or float's text,
// in SQLite's memory: valid until the next step or reset, so copy it.
func (c *direct) bytes(st *dstmt, i, typ int32) []byte {
	var p uintptr
	if typ == sqlite3.SQLITE_BLOB {
		p = sqlite3.Xsqlite3_column_blob(c.tls, st.p, i)
	} else {
		p = sqlite3.Xsqlite3_column_text(c.tls, st.p, i)
	}
	n := int(sqlite3.Xsqlite3_column_bytes(c.tls, st.p, i))
	if p == 0 || n == 0 {
		return nil
	}
	return libc.GoBytes(p, n)
}

// value is a column as a driver value, copied out of SQLite's memory.
func (c *direct) value(st *dstmt, i, typ int32) any {
	switch typ {
	case sqlite3.SQLITE_INTEGER:
		return sqlite3.Xsqlite3_column_int64(c.tls, st.p, i)
	case sqlite3.SQLITE_FLOAT:
		return sqlite3.Xsqlite3_column_double(c.tls, st.p, i)
	case sqlite3.SQLITE_TEXT:
		return string(c.bytes(st, i, typ))
	case sqlite3.SQLITE_BLOB:
		return append([]byte{}, c.bytes(st, i, typ)...)
	}
	return nil
}

func typeName(typ int32) string {
	switch typ {
	case sqlite3.SQLITE_INTEGER:
		return "INTEGER"
	case sqlite3.SQLITE_FLOAT:
		return "REAL"
	case sqlite3.SQLITE_TEXT:
		return "TEXT"
	case sqlite3.SQLITE_BLOB:
		return "BLOB"
	}
	return "NULL"
}

var _ sqltx.Conn = (*direct)(nil)
