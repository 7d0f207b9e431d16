package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// TempSchema creates a schema of its own, named prefix + 12 random hex
// digits, in the database dsn names, and returns dsn with that schema as
// its search_path, so that a store opened on it starts empty and leaves
// the rest of the database alone; drop removes the schema and everything
// in it. For tests and benchmarks that share a server.
func TempSchema(ctx context.Context, dsn, prefix string) (schemaDSN string, drop func(), err error) {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", nil, fmt.Errorf("postgres: %w", err)
	}
	defer c.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	schema := prefix + hex.EncodeToString(b[:])
	if _, err := c.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		return "", nil, fmt.Errorf("postgres: creating schema: %w", err)
	}
	drop = func() {
		ctx := context.WithoutCancel(ctx)
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		c.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`)
	}
	return withSearchPath(dsn, schema), drop, nil
}

// withSearchPath adds search_path=schema to a URL or key=value DSN.
func withSearchPath(dsn, schema string) string {
	if !strings.Contains(dsn, "://") {
		return dsn + " search_path=" + schema
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}
