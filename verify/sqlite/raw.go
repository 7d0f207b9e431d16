package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/tokenlab/tokenlab/verify/internal/sqltx"
)

// errUnsupported makes rawRow.Scan fall back to database/sql for a
// destination type it does not convert itself.
var errUnsupported = errors.New("sqlite: destination not supported by the raw path")

// rawStmt is a statement prepared on the driver connection, with its
// $N parameters turned into plain ? ones: order[k] is the argument (from
// 0) bound to the k-th ?. SQLite keeps $N in a list it scans for every
// parameter the driver binds (modernc asks each one's name), quadratic
// in the parameters of the group commit's multi-row audit INSERT; plain
// ? parameters have no name.
type rawStmt struct {
	st    driver.Stmt
	order []int
}

// rawStmt returns q prepared on the driver connection dc, once per pconn.
// Called only inside c.c.Raw, by the goroutine holding c.
func (c *pconn) rawStmt(ctx context.Context, dc any, q string) (*rawStmt, error) {
	if st, ok := c.raw[q]; ok {
		return st, nil
	}
	pc, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return nil, fmt.Errorf("sqlite: driver connection %T cannot prepare with a context", dc)
	}
	text, order := positional(q)
	st, err := pc.PrepareContext(ctx, text)
	if err != nil {
		return nil, err
	}
	if c.raw == nil {
		c.raw = map[string]*rawStmt{}
	}
	r := &rawStmt{st: st, order: order}
	c.raw[q] = r
	return r, nil
}

// positional rewrites the $N parameters of q (outside quoted text) as ?,
// and returns for each ? in order the argument index N-1. A $ not
// followed by digits is left alone.
func positional(q string) (string, []int) {
	var b strings.Builder
	b.Grow(len(q))
	var order []int
	var quote byte
	for i := 0; i < len(q); i++ {
		ch := q[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '$' && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			n, _ := strconv.Atoi(q[i+1 : j])
			order = append(order, n-1)
			b.WriteByte('?')
			i = j - 1
			continue
		}
		b.WriteByte(ch)
	}
	return b.String(), order
}

func (c *pconn) closeRaw() {
	if len(c.raw) == 0 {
		return
	}
	c.c.Raw(func(any) error {
		for _, st := range c.raw {
			st.st.Close()
		}
		return nil
	})
	c.raw = nil
}

// namedArgs converts args as database/sql would for a driver without its
// own converter (driver.Value types), in the order of st's parameters.
func namedArgs(st *rawStmt, all []any) ([]driver.NamedValue, error) {
	nv := make([]driver.NamedValue, len(st.order))
	for k, i := range st.order {
		if i < 0 || i >= len(all) {
			return nil, fmt.Errorf("sqlite: missing argument %d", i+1)
		}
		a := all[i]
		v, ok := a.(driver.Value)
		switch a.(type) {
		case int64, string, []byte, float64, bool, nil:
		default:
			var err error
			if v, err = driver.DefaultParameterConverter.ConvertValue(a); err != nil {
				return nil, fmt.Errorf("sqlite: argument %d: %w", i+1, err)
			}
			ok = true
		}
		if !ok {
			return nil, fmt.Errorf("sqlite: argument %d: unsupported type %T", i+1, a)
		}
		nv[k] = driver.NamedValue{Ordinal: k + 1, Value: v}
	}
	return nv, nil
}

func (c *pconn) rawExec(ctx context.Context, q string, args []any) (n int64, err error) {
	err = c.c.Raw(func(dc any) error {
		st, err := c.rawStmt(ctx, dc, q)
		if err != nil {
			return err
		}
		nv, err := namedArgs(st, args)
		if err != nil {
			return err
		}
		ex, ok := st.st.(driver.StmtExecContext)
		if !ok {
			return fmt.Errorf("sqlite: statement %T cannot execute with a context", st)
		}
		r, err := ex.ExecContext(ctx, nv)
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	return n, err
}

// rawRow is QueryRow's result: the statement runs when Scan is called,
// as with database/sql.
type rawRow struct {
	c    *pconn
	ctx  context.Context
	q    string
	args []any
}

func (r rawRow) Scan(dest ...any) error {
	err := r.scan(dest)
	if errors.Is(err, errUnsupported) {
		return r.c.sqlQueryRow(r.ctx, r.q, r.args...).Scan(dest...)
	}
	return err
}

func (r rawRow) scan(dest []any) error {
	for _, d := range dest {
		switch d.(type) {
		case *string, *int64, *[]byte:
		default:
			return errUnsupported
		}
	}
	return r.c.c.Raw(func(dc any) error {
		st, err := r.c.rawStmt(r.ctx, dc, r.q)
		if err != nil {
			return err
		}
		nv, err := namedArgs(st, r.args)
		if err != nil {
			return err
		}
		qc, ok := st.st.(driver.StmtQueryContext)
		if !ok {
			return fmt.Errorf("sqlite: statement %T cannot query with a context", st)
		}
		rows, err := qc.QueryContext(r.ctx, nv)
		if err != nil {
			return err
		}
		vals := make([]driver.Value, len(rows.Columns()))
		err = rows.Next(vals)
		cerr := rows.Close()
		if err == io.EOF {
			return sql.ErrNoRows
		}
		if err != nil {
			return err
		}
		if cerr != nil {
			return cerr
		}
		if len(vals) != len(dest) {
			return fmt.Errorf("sqlite: expected %d destination arguments in Scan, not %d", len(vals), len(dest))
		}
		for i, v := range vals {
			if err := assign(dest[i], v); err != nil {
				return err // errUnsupported: Scan asks database/sql
			}
		}
		return nil
	})
}

// assign stores a driver value in one of the destinations rawRow takes.
// Byte slices from the driver are its own copies, not SQLite's memory.
func assign(dest any, v driver.Value) error {
	switch d := dest.(type) {
	case *string:
		switch x := v.(type) {
		case string:
			*d = x
			return nil
		case []byte:
			*d = string(x)
			return nil
		}
	case *int64:
		if x, ok := v.(int64); ok {
			*d = x
			return nil
		}
	case *[]byte:
		switch x := v.(type) {
		case []byte:
			*d = x
			return nil
		case string:
			*d = []byte(x)
			return nil
		case nil:
			*d = nil
			return nil
		}
	}
	return fmt.Errorf("%w: %T in %T", errUnsupported, v, dest)
}

var _ sqltx.Row = rawRow{}
