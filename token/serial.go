package token

import (
	"errors"
	"fmt"
	"strconv"
)

// Serial is the serial number of a hardware token as IAM accepts it:
// 9 to 256 characters of letters, digits and _+=,.@:/- (the serialNumberType
// of the IAM API). Serials allocated by tokenlab are [AllocatedSerialLen]
// characters: a four-letter prefix, seven digits and a Luhn check digit.
type Serial string

const (
	// MinSerialLen and MaxSerialLen bound a serial's length (IAM serialNumberType).
	MinSerialLen = 9
	MaxSerialLen = 256
	// AllocatedSerialLen is the length of the serials tokenlab allocates.
	AllocatedSerialLen = 12
	// MaxSerialNumber is the largest seven-digit number an allocated serial carries.
	MaxSerialNumber = 9_999_999
)

// ErrSerial is matched by every error that a malformed serial returns.
var ErrSerial = errors.New("token: invalid serial")

// ErrRangeExhausted is returned by [Allocator.Next] after the prefix's last serial.
var ErrRangeExhausted = errors.New("token: serial range exhausted")

// ParseSerial checks s against the IAM serial rules and returns it as a Serial.
func ParseSerial(s string) (Serial, error) {
	if len(s) < MinSerialLen || len(s) > MaxSerialLen {
		return "", fmt.Errorf("%w %q: length %d, want %d to %d characters", ErrSerial, truncate(s), len(s), MinSerialLen, MaxSerialLen)
	}
	for i := 0; i < len(s); i++ {
		if !serialChar(s[i]) {
			return "", fmt.Errorf("%w %q: character %q at position %d is not a letter, digit or one of _+=,.@:/-", ErrSerial, truncate(s), s[i], i+1)
		}
	}
	return Serial(s), nil
}

func serialChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '_', '+', '=', ',', '.', '@', ':', '/', '-':
		return true
	}
	return false
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

func (s Serial) String() string { return string(s) }

// ParsePrefix checks that p is a serial prefix: exactly four upper-case letters.
func ParsePrefix(p string) (string, error) {
	if len(p) != 4 {
		return "", fmt.Errorf("%w prefix %q: want exactly 4 upper-case letters", ErrSerial, truncate(p))
	}
	for i := 0; i < 4; i++ {
		if p[i] < 'A' || p[i] > 'Z' {
			return "", fmt.Errorf("%w prefix %q: want exactly 4 upper-case letters", ErrSerial, p)
		}
	}
	return p, nil
}

// NewSerial returns the allocated serial for number n under prefix:
// prefix, n as seven digits, and the Luhn check digit over those seven.
func NewSerial(prefix string, n uint64) (Serial, error) {
	if _, err := ParsePrefix(prefix); err != nil {
		return "", err
	}
	if n > MaxSerialNumber {
		return "", fmt.Errorf("%w: number %d is over %d", ErrRangeExhausted, n, MaxSerialNumber)
	}
	var b [AllocatedSerialLen]byte
	copy(b[:4], prefix)
	d := b[4:11]
	for i := 6; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	b[11] = LuhnDigit(string(d))
	return Serial(b[:]), nil
}

// LuhnDigit returns the Luhn (ISO/IEC 7812-1) check digit for a string of
// decimal digits. It panics on a non-digit, which is a programming error.
func LuhnDigit(digits string) byte {
	sum := 0
	double := true // the rightmost payload digit is doubled
	for i := len(digits) - 1; i >= 0; i-- {
		c := digits[i]
		if c < '0' || c > '9' {
			panic("token: LuhnDigit of a non-digit")
		}
		v := int(c - '0')
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}

// Allocated reports whether s has the form of a serial tokenlab allocates
// (four upper-case letters, eight digits) with a correct check digit.
func (s Serial) Allocated() bool {
	_, _, err := s.Split()
	return err == nil
}

// Split returns the prefix and number of an allocated serial, or an error
// saying what is wrong with it (form or check digit).
func (s Serial) Split() (prefix string, n uint64, err error) {
	if len(s) != AllocatedSerialLen {
		return "", 0, fmt.Errorf("%w %q: an allocated serial has %d characters", ErrSerial, truncate(string(s)), AllocatedSerialLen)
	}
	if _, err := ParsePrefix(string(s[:4])); err != nil {
		return "", 0, fmt.Errorf("%w %q: does not start with 4 upper-case letters", ErrSerial, s)
	}
	for i := 4; i < AllocatedSerialLen; i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", 0, fmt.Errorf("%w %q: does not end with 8 digits", ErrSerial, s)
		}
	}
	if LuhnDigit(string(s[4:11])) != s[11] {
		return "", 0, fmt.Errorf("%w %q: check digit is %c, want %c", ErrSerial, s, s[11], LuhnDigit(string(s[4:11])))
	}
	n, _ = strconv.ParseUint(string(s[4:11]), 10, 64)
	return string(s[:4]), n, nil
}

// Allocator hands out consecutive allocated serials under one prefix.
// It is not safe for concurrent use.
type Allocator struct {
	prefix string
	next   uint64
	done   bool
}

// NewAllocator returns an allocator whose first serial carries number start.
func NewAllocator(prefix string, start uint64) (*Allocator, error) {
	if _, err := ParsePrefix(prefix); err != nil {
		return nil, err
	}
	if start > MaxSerialNumber {
		return nil, fmt.Errorf("%w: start %d is over %d", ErrRangeExhausted, start, MaxSerialNumber)
	}
	return &Allocator{prefix: prefix, next: start}, nil
}

// AllocatorAfter returns an allocator that continues after serial last, so a
// batch can carry on where the previous one stopped.
func AllocatorAfter(last Serial) (*Allocator, error) {
	prefix, n, err := last.Split()
	if err != nil {
		return nil, err
	}
	if n == MaxSerialNumber {
		return &Allocator{prefix: prefix, next: n, done: true}, nil
	}
	return NewAllocator(prefix, n+1)
}

// Next returns the next serial, or ErrRangeExhausted once the prefix's last
// number (9999999) has been handed out.
func (a *Allocator) Next() (Serial, error) {
	if a.done {
		return "", fmt.Errorf("%w: prefix %s has no serial after %d", ErrRangeExhausted, a.prefix, MaxSerialNumber)
	}
	s, err := NewSerial(a.prefix, a.next)
	if err != nil {
		return "", err
	}
	if a.next == MaxSerialNumber {
		a.done = true
	} else {
		a.next++
	}
	return s, nil
}

// Remaining returns how many serials Next can still hand out.
func (a *Allocator) Remaining() uint64 {
	if a.done {
		return 0
	}
	return MaxSerialNumber - a.next + 1
}
