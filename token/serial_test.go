package token_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tokenlab/tokenlab/token"
)

func TestParseSerial(t *testing.T) {
	ok := []string{
		"GAHT12345678",
		"123456789",              // 9, the shortest
		strings.Repeat("a", 256), // the longest
		"a_b+c=d,e.f@g:h/i-j",    // every punctuation mark IAM allows
		"arn:aws:iam::123456789012:mfa/alice",
	}
	for _, s := range ok {
		if got, err := token.ParseSerial(s); err != nil || string(got) != s {
			t.Errorf("ParseSerial(%q) = %q, %v; want it accepted", s, got, err)
		}
	}
	bad := []struct{ name, s string }{
		{"empty", ""},
		{"eight characters", "12345678"},
		{"257 characters", strings.Repeat("a", 257)},
		{"space", "GAHT 1234567"},
		{"hash", "GAHT#12345678"},
		{"non-ASCII letter", "GAHTé12345678"},
		{"newline", "GAHT12345678\n"},
		{"NUL", "GAHT1234\x005678"},
		{"percent", "GAHT%12345678"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := token.ParseSerial(c.s)
			if !errors.Is(err, token.ErrSerial) {
				t.Fatalf("ParseSerial(%q) = %v, want ErrSerial", c.s, err)
			}
			if !strings.HasPrefix(err.Error(), "token: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestLuhnDigit(t *testing.T) {
	for _, c := range []struct {
		payload string
		want    byte
	}{
		{"7992739871", '3'}, // the ISO/IEC 7812 worked example
		{"0000000", '0'},
		{"0000001", '8'},
		{"1234567", '4'},
		{"9999999", '7'},
	} {
		if got := token.LuhnDigit(c.payload); got != c.want {
			t.Errorf("LuhnDigit(%q) = %c, want %c", c.payload, got, c.want)
		}
	}
}

func TestNewSerialAndSplit(t *testing.T) {
	s, err := token.NewSerial("GAHT", 1234567)
	if err != nil {
		t.Fatal(err)
	}
	if s != "GAHT12345674" {
		t.Fatalf("NewSerial = %s, want GAHT12345674", s)
	}
	p, n, err := s.Split()
	if err != nil || p != "GAHT" || n != 1234567 {
		t.Fatalf("Split = %q, %d, %v", p, n, err)
	}
	if !s.Allocated() {
		t.Error("Allocated() false for an allocated serial")
	}
	for _, c := range []struct{ name, s string }{
		{"check digit wrong", "GAHT12345675"},
		{"lower-case prefix", "gaht12345674"},
		{"letter among digits", "GAHT1234567X"},
		{"too short", "GAHT1234567"},
	} {
		if token.Serial(c.s).Allocated() {
			t.Errorf("%s: %q counts as allocated", c.name, c.s)
		}
	}
	if _, err := token.NewSerial("GAH", 1); !errors.Is(err, token.ErrSerial) {
		t.Errorf("three-letter prefix: %v", err)
	}
	if _, err := token.NewSerial("GAHT", token.MaxSerialNumber+1); !errors.Is(err, token.ErrRangeExhausted) {
		t.Errorf("number over range: %v", err)
	}
}

func TestAllocator(t *testing.T) {
	a, err := token.NewAllocator("GAHT", token.MaxSerialNumber-1)
	if err != nil {
		t.Fatal(err)
	}
	if a.Remaining() != 2 {
		t.Fatalf("Remaining = %d, want 2", a.Remaining())
	}
	var got []token.Serial
	for range 2 {
		s, err := a.Next()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if got[0] != "GAHT99999989" || got[1] != "GAHT99999997" {
		t.Fatalf("last two serials %v", got)
	}
	if _, err := a.Next(); !errors.Is(err, token.ErrRangeExhausted) {
		t.Fatalf("after the last serial: %v, want ErrRangeExhausted", err)
	}
	if a.Remaining() != 0 {
		t.Errorf("Remaining after exhaustion = %d", a.Remaining())
	}

	// AllocatorAfter carries on where a batch stopped.
	b, err := token.AllocatorAfter("GAHT00000018")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := b.Next(); s != "GAHT00000026" {
		t.Errorf("after GAHT00000018: %s, want GAHT00000026", s)
	}
	c, err := token.AllocatorAfter(got[1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Next(); !errors.Is(err, token.ErrRangeExhausted) {
		t.Errorf("after the prefix's last serial: %v, want ErrRangeExhausted", err)
	}
	if _, err := token.AllocatorAfter("GAHT00000019"); !errors.Is(err, token.ErrSerial) {
		t.Errorf("after a serial with a bad check digit: %v, want ErrSerial", err)
	}
	if _, err := token.NewAllocator("gaht", 0); !errors.Is(err, token.ErrSerial) {
		t.Errorf("lower-case prefix: %v", err)
	}
	// Every serial handed out is valid and distinct.
	d, _ := token.NewAllocator("ABCD", 0)
	seen := map[token.Serial]bool{}
	for range 1000 {
		s, err := d.Next()
		if err != nil || !s.Allocated() || seen[s] {
			t.Fatalf("serial %s: err %v, allocated %v, seen %v", s, err, s.Allocated(), seen[s])
		}
		if _, err := token.ParseSerial(string(s)); err != nil {
			t.Fatal(err)
		}
		seen[s] = true
	}
}
