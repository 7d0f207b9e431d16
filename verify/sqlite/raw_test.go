package sqlite

import (
	"slices"
	"testing"
)

func TestPositional(t *testing.T) {
	for _, c := range []struct {
		in, out string
		order   []int
	}{
		{`SELECT a FROM t WHERE id = $1`, `SELECT a FROM t WHERE id = ?`, []int{0}},
		{`UPDATE t SET a = $4, b = $2 WHERE id = $1 AND s = 'x$3' AND c < $3 AND d = $10`,
			`UPDATE t SET a = ?, b = ? WHERE id = ? AND s = 'x$3' AND c < ? AND d = ?`, []int{3, 1, 0, 2, 9}},
		{`SELECT "$1", '$2''$3', $2, $`, `SELECT "$1", '$2''$3', ?, $`, []int{1}},
		{`BEGIN IMMEDIATE`, `BEGIN IMMEDIATE`, nil},
	} {
		out, order := positional(c.in)
		if out != c.out || !slices.Equal(order, c.order) {
			t.Errorf("positional(%q) = %q, %v; want %q, %v", c.in, out, order, c.out, c.order)
		}
	}
}
