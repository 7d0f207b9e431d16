package verify

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// Access key IDs look like AWS's (prefix + 16 base32 characters), differ
// within one instant, and sort in the order they were made, so that session
// keys append to the end of the keys' B-tree.
func TestKeyIDOrderedAndUnique(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	s := New(nil, nil, Config{Now: func() time.Time { return now }})
	shape := regexp.MustCompile(`^ASIA[A-Z2-7]{16}$`)
	var prev string
	seen := map[string]bool{}
	for i := 0; i < 5000; i++ {
		if i%50 == 0 {
			now = now.Add(time.Second / 64)
		}
		id, err := s.keyID("ASIA")
		if err != nil {
			t.Fatal(err)
		}
		if !shape.MatchString(id) {
			t.Fatalf("key id %q", id)
		}
		if seen[id] {
			t.Fatalf("key id %q twice", id)
		}
		seen[id] = true
		if i%50 == 0 && prev != "" && strings.Compare(id[:11], prev[:11]) <= 0 {
			t.Fatalf("%q made after %q sorts before it", id, prev)
		}
		prev = id
	}
	// Every digit of the time part sorts like its value.
	for v := 1; v < 32; v++ {
		if sortedAlphabet[v-1] >= sortedAlphabet[v] || !strings.ContainsRune(idAlphabet, rune(sortedAlphabet[v])) {
			t.Fatalf("sortedAlphabet is not idAlphabet in byte order at %d", v)
		}
	}
}
