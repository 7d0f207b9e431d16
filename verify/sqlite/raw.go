package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"

	"github.com/tokenlab/tokenlab/verify/internal/sqltx"
)

// errUnsupported makes rawRow.Scan fall back to database/sql for a
// destination type it does not convert itself.
var errUnsupported = errors.New("sqlite: destination not supported by the raw path")

// rawStmt returns q prepared on the driver connection dc, once per pconn.
// Called only inside c.c.Raw, by the goroutine holding c.
func (c *pconn) rawStmt(ctx context.Context, dc any, q string) (driver.Stmt, error) {
	if st, ok := c.raw[q]; ok {
		return st, nil
	}
	pc, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return nil, fmt.Errorf("sqlite: driver connection %T cannot prepare with a context", dc)
	}
	st, err := pc.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if c.raw == nil {
		c.raw = map[string]driver.Stmt{}
	}
	c.raw[q] = st
	return st, nil
}

func (c *pconn) closeRaw() {
	if len(c.raw) == 0 {
		return
	}
	c.c.Raw(func(any) error {
		for _, st := range c.raw {
			st.Close()
		}
		return nil
	})
	c.raw = nil
}

// namedArgs converts args as database/sql would for a driver without its
// own converter: ordinal parameters, driver.Value types.
func namedArgs(args []any) ([]driver.NamedValue, error) {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
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
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return nv, nil
}

func (c *pconn) rawExec(ctx context.Context, q string, args []any) (n int64, err error) {
	nv, err := namedArgs(args)
	if err != nil {
		return 0, err
	}
	err = c.c.Raw(func(dc any) error {
		st, err := c.rawStmt(ctx, dc, q)
		if err != nil {
			return err
		}
		ex, ok := st.(driver.StmtExecContext)
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
	nv, err := namedArgs(r.args)
	if err != nil {
		return err
	}
	return r.c.c.Raw(func(dc any) error {
		st, err := r.c.rawStmt(r.ctx, dc, r.q)
		if err != nil {
			return err
		}
		qc, ok := st.(driver.StmtQueryContext)
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
