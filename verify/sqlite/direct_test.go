package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	sqlite3 "modernc.org/sqlite/lib"
)

func openDirectT(t *testing.T) *direct {
	t.Helper()
	c, err := openDirect(filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	mustExec(t, c, `CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, f REAL, s TEXT, b BLOB, x)`)
	return c
}

func mustExec(t *testing.T, c *direct, q string, args ...any) int64 {
	t.Helper()
	n, err := c.Exec(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestDirectRoundTrip(t *testing.T) {
	c := openDirectT(t)
	ctx := context.Background()
	long := strings.Repeat("ü", 700) // longer than the bind buffer's first size
	blob := bytes.Repeat([]byte{0, 1, 2, 0xff}, 300)
	rows := []struct {
		id   int64
		n    any
		f    float64
		s    string
		b    []byte
		x    any
		want string // of x, as *any reads it back
	}{
		{1, int64(-7), 1.5, "", []byte{}, nil, "<nil>"},
		{2, 42, -0.25, "it's $1 \"q\"", blob, "text", "text"},
		{3, true, 0, long, nil, []byte("raw"), "raw"},
		{4, uint32(1 << 31), 3, "x\x00y", []byte{0}, int64(9), "9"},
	}
	for _, r := range rows {
		// $N out of order, and three texts or blobs in one statement: each
		// is staged in the same buffer, after SQLite copied the one before.
		if n := mustExec(t, c, `INSERT INTO t (x, b, s, f, n, id) VALUES ($6, $5, $4, $3, $2, $1)`, r.id, r.n, r.f, r.s, r.b, r.x); n != 1 {
			t.Fatalf("insert %d: %d rows", r.id, n)
		}
	}
	for _, r := range rows {
		var (
			n    int64
			f    float64
			s    string
			b    []byte
			x    any
			null sql.NullString
		)
		err := c.QueryRow(ctx, `SELECT n, f, s, b, x, s FROM t WHERE id = $1`, r.id).Scan(&n, &f, &s, &b, &x, &null)
		if err != nil {
			t.Fatalf("row %d: %v", r.id, err)
		}
		wantN := map[int64]int64{1: -7, 2: 42, 3: 1, 4: 1 << 31}[r.id]
		if n != wantN || f != r.f || s != r.s || !null.Valid || null.String != r.s {
			t.Errorf("row %d: n=%d f=%v s=%q null=%+v; want %d %v %q", r.id, n, f, s, null, wantN, r.f, r.s)
		}
		if !bytes.Equal(b, r.b) || (b == nil) != (r.b == nil) {
			t.Errorf("row %d: blob %v (nil %v), want %v (nil %v)", r.id, len(b), b == nil, len(r.b), r.b == nil)
		}
		if got := anyString(x); got != r.want {
			t.Errorf("row %d: x = %q, want %q", r.id, got, r.want)
		}
	}
	// Integers into *int and *bool, text into *[]byte, NULL into a Scanner.
	var i int
	var ok bool
	var raw []byte
	var ns sql.NullString
	if err := c.QueryRow(ctx, `SELECT n, n, s, x FROM t WHERE id = 1`).Scan(&i, &ok, &raw, &ns); err != nil {
		t.Fatal(err)
	}
	if i != -7 || !ok || raw == nil || len(raw) != 0 || ns.Valid {
		t.Errorf("got %d %v %q(nil %v) %+v", i, ok, raw, raw == nil, ns)
	}
}

func anyString(v any) string {
	switch x := v.(type) {
	case nil:
		return "<nil>"
	case []byte:
		return string(x)
	case string:
		return x
	case int64:
		return string(rune('0' + x))
	}
	return "?"
}

func TestDirectErrors(t *testing.T) {
	c := openDirectT(t)
	ctx := context.Background()
	mustExec(t, c, `INSERT INTO t (id, s) VALUES ($1, $2)`, 1, "a")

	_, err := c.Exec(ctx, `INSERT INTO t (id, s) VALUES ($1, $2)`, 1, "b")
	if !dialect.IsUnique(err) || !strings.Contains(err.Error(), "UNIQUE") {
		t.Errorf("duplicate key: %v, IsUnique %v", err, dialect.IsUnique(err))
	}
	var s string
	if err := c.QueryRow(ctx, `SELECT s FROM t WHERE id = $1`, 2).Scan(&s); !errors.Is(err, sql.ErrNoRows) || !dialect.IsNoRows(err) {
		t.Errorf("no row: %v", err)
	}
	if err := c.QueryRow(ctx, `SELECT s FROM t WHERE id = $1`, 1).Scan(&s, &s); err == nil {
		t.Error("two destinations for one column: no error")
	}
	var n int64
	if err := c.QueryRow(ctx, `SELECT x FROM t WHERE id = 1`).Scan(&n); err == nil {
		t.Error("NULL into *int64: no error")
	}
	if err := c.QueryRow(ctx, `SELECT x FROM t WHERE id = 1`).Scan(&s); err == nil {
		t.Error("NULL into *string: no error")
	}
	if _, err := c.Exec(ctx, `SELECT 1; SELECT 2`); err == nil || !strings.Contains(err.Error(), "one statement") {
		t.Errorf("two statements: %v", err)
	}
	if _, err := c.Exec(ctx, `SELECT 1;  `); err != nil {
		t.Errorf("one statement and a semicolon: %v", err)
	}
	if _, err := c.Exec(ctx, `SELEC 1`); err == nil {
		t.Error("syntax error: no error")
	}
	if _, err := c.Exec(ctx, `UPDATE t SET s = $2 WHERE id = $1`, 1); err == nil || !strings.Contains(err.Error(), "missing argument $2") {
		t.Errorf("missing argument: %v", err)
	}
	if _, err := c.Exec(ctx, `UPDATE t SET s = $2 WHERE id = $1`, 1, struct{}{}); err == nil || !strings.Contains(err.Error(), "unsupported type") {
		t.Errorf("unsupported argument: %v", err)
	}
	// The statement that failed to bind is usable again, with nothing of
	// the failed call left bound.
	if n := mustExec(t, c, `UPDATE t SET s = $2 WHERE id = $1`, 1, "c"); n != 1 {
		t.Errorf("update after a failed bind: %d rows", n)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Exec(cancelled, `UPDATE t SET s = 'd'`); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if err := c.QueryRow(ctx, `SELECT s FROM t WHERE id = 1`).Scan(&s); err != nil || s != "c" {
		t.Errorf("s = %q, %v; want c", s, err)
	}
}

// A statement whose rows are being read is not reused by a nested call of
// the same text, and UPDATE … RETURNING through QueryRow changes every
// row it matches, not only the one read (SQLite makes the changes in the
// first step, which dRow relies on).
func TestDirectNestedAndReturning(t *testing.T) {
	c := openDirectT(t)
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		mustExec(t, c, `INSERT INTO t (id, n) VALUES ($1, 0)`, i)
	}
	const q = `SELECT id FROM t WHERE id >= $1 ORDER BY id`
	rows, err := c.Query(ctx, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	var outer []int64
	for rows.Next() {
		var id, first int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		outer = append(outer, id)
		if err := c.QueryRow(ctx, q, id).Scan(&first); err != nil || first != id {
			t.Fatalf("nested query from %d: %d, %v", id, first, err)
		}
	}
	rows.Close()
	if rows.Err() != nil || len(outer) != 3 {
		t.Fatalf("outer rows %v, %v", outer, rows.Err())
	}
	if err := rows.Scan(new(int64)); err == nil {
		t.Error("Scan after Close: no error")
	}
	var id int64
	if err := c.QueryRow(ctx, `UPDATE t SET n = n + 1 RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	var sum int64
	if err := c.QueryRow(ctx, `SELECT sum(n) FROM t`).Scan(&sum); err != nil || sum != 3 {
		t.Errorf("after UPDATE … RETURNING read once: sum %d, %v; want 3", sum, err)
	}
}

// The store's writer runs on a direct connection, opened NOMUTEX and with
// synchronous=NORMAL, and its readers do not.
func TestStoreWriterIsDirect(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := <-s.w
	defer func() { s.w <- w }()
	if w.d == nil {
		t.Fatal("the writer has no direct connection")
	}
	var mode int64
	if err := w.QueryRow(context.Background(), `PRAGMA synchronous`).Scan(&mode); err != nil || mode != 1 {
		t.Errorf("synchronous %d, %v", mode, err)
	}
	r := <-s.r
	defer func() { s.r <- r }()
	if r.d != nil {
		t.Error("a reader has a direct connection")
	}
}

// A cached statement is prepared once, even when its plan looked at a
// bound value: a join on a text key given once, as the device_view reads
// do, was prepared again on every use while done cleared the bindings.
func TestDirectNoReprepare(t *testing.T) {
	c := openDirectT(t)
	ctx := context.Background()
	mustExec(t, c, `CREATE TABLE a (id TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID`)
	mustExec(t, c, `CREATE TABLE b (id TEXT PRIMARY KEY, m INTEGER) WITHOUT ROWID`)
	for i := range int64(4) {
		mustExec(t, c, `INSERT INTO a (id, n) VALUES ($1, $2)`, fmt.Sprint("k", i), 10*i)
		mustExec(t, c, `INSERT INTO b (id, m) VALUES ($1, $2)`, fmt.Sprint("k", i), 100*i)
	}
	const q = `SELECT a.n, b.m FROM a LEFT JOIN b ON b.id = a.id WHERE a.id = $1`
	for i := range int64(4) {
		var n, m int64
		if err := c.QueryRow(ctx, q, fmt.Sprint("k", i)).Scan(&n, &m); err != nil || n != 10*i || m != 100*i {
			t.Fatalf("row %d: %d, %d, %v", i, n, m, err)
		}
	}
	st, ok := c.stmts[q]
	if !ok {
		t.Fatal("the statement is not cached")
	}
	if n := sqlite3.Xsqlite3_stmt_status(c.tls, st.p, sqlite3.SQLITE_STMTSTATUS_REPREPARE, 0); n != 0 {
		t.Fatalf("prepared again %d times in 4 uses", n)
	}
}
