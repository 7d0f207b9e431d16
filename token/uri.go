package token

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// KeyType says whether a key is counter-based or time-based.
type KeyType string

const (
	HOTP KeyType = "hotp" // RFC 4226
	TOTP KeyType = "totp" // RFC 6238
)

// ErrURI is matched by every error from [ParseURI].
var ErrURI = errors.New("token: invalid otpauth URI")

// MaxURILen bounds the URIs ParseURI reads; QR codes hold less.
const MaxURILen = 4096

// Key is what an otpauth:// URI carries (the Key URI format of Google
// Authenticator, which authenticator apps and IAM's QR codes follow).
type Key struct {
	Type    KeyType
	Issuer  string // may be empty
	Account string
	Seed    Seed
	Spec    Spec
	Counter uint64 // HOTP only
}

// URI formats k as an otpauth URI, with issuer, algorithm, digits and
// period (TOTP) or counter (HOTP) spelled out.
func (k Key) URI() string {
	alg := otpAlgorithm(k.Spec.Algorithm)
	digits := otp.Digits(k.Spec.Digits)
	if k.Issuer != "" && k.Account != "" {
		var (
			key *otp.Key
			err error
		)
		if k.Type == HOTP {
			key, err = hotp.Generate(hotp.GenerateOpts{Issuer: k.Issuer, AccountName: k.Account, Secret: k.Seed, Digits: digits, Algorithm: alg})
		} else {
			key, err = totp.Generate(totp.GenerateOpts{Issuer: k.Issuer, AccountName: k.Account, Secret: k.Seed, Digits: digits, Algorithm: alg, Period: uint(k.Spec.Period / time.Second)})
		}
		if err == nil {
			if k.Type != HOTP {
				return key.URL()
			}
			u, _ := url.Parse(key.URL())
			q := u.Query()
			q.Set("counter", strconv.FormatUint(k.Counter, 10))
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	// Without an issuer (IAM's own QR codes carry none) pquerna/otp will not
	// generate; build the same shape by hand.
	q := url.Values{}
	q.Set("secret", k.Seed.Base32())
	if k.Issuer != "" {
		q.Set("issuer", k.Issuer)
	}
	q.Set("algorithm", k.Spec.Algorithm.String())
	q.Set("digits", strconv.Itoa(k.Spec.Digits))
	typ := TOTP
	if k.Type == HOTP {
		typ = HOTP
		q.Set("counter", strconv.FormatUint(k.Counter, 10))
	} else {
		q.Set("period", strconv.Itoa(int(k.Spec.Period/time.Second)))
	}
	label := k.Account
	if k.Issuer != "" {
		label = k.Issuer + ":" + k.Account
	}
	u := url.URL{Scheme: "otpauth", Host: string(typ), Path: "/" + label, RawQuery: q.Encode()}
	return u.String()
}

func otpAlgorithm(a Algorithm) otp.Algorithm {
	switch a {
	case SHA256:
		return otp.AlgorithmSHA256
	case SHA512:
		return otp.AlgorithmSHA512
	}
	return otp.AlgorithmSHA1
}

// ParseURI reads an otpauth URI. Absent parameters take the Key URI format's
// defaults (SHA1, 6 digits, 30 s); present ones must be valid: an unknown
// algorithm, digits other than 6 or 8, a period other than 30 or 60, a
// missing or short secret, or an issuer parameter that contradicts the
// label's are all refused.
func ParseURI(s string) (Key, error) {
	if len(s) > MaxURILen {
		return Key{}, fmt.Errorf("%w: %d bytes, over %d", ErrURI, len(s), MaxURILen)
	}
	k, err := otp.NewKeyFromURL(s)
	if err != nil {
		return Key{}, fmt.Errorf("%w: %v", ErrURI, err)
	}
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return Key{}, fmt.Errorf("%w: %v", ErrURI, err)
	}
	if u.Scheme != "otpauth" {
		return Key{}, fmt.Errorf("%w: scheme %q, want otpauth", ErrURI, truncate(u.Scheme))
	}
	var key Key
	switch k.Type() {
	case "totp":
		key.Type = TOTP
	case "hotp":
		key.Type = HOTP
	default:
		return Key{}, fmt.Errorf("%w: type %q, want totp or hotp", ErrURI, truncate(k.Type()))
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Key{}, fmt.Errorf("%w: query: %v", ErrURI, err)
	}
	for name, vals := range q {
		if len(vals) > 1 {
			return Key{}, fmt.Errorf("%w: parameter %q given %d times", ErrURI, truncate(name), len(vals))
		}
	}
	key.Account = k.AccountName()
	key.Issuer = k.Issuer()
	if label := strings.TrimPrefix(u.Path, "/"); strings.Contains(label, ":") {
		if li := label[:strings.Index(label, ":")]; q.Has("issuer") && q.Get("issuer") != li {
			return Key{}, fmt.Errorf("%w: issuer parameter %q differs from label issuer %q", ErrURI, truncate(q.Get("issuer")), truncate(li))
		}
	}
	if key.Account == "" {
		return Key{}, fmt.Errorf("%w: no account name in the label", ErrURI)
	}
	if !q.Has("secret") {
		return Key{}, fmt.Errorf("%w: no secret parameter", ErrURI)
	}
	if key.Seed, err = ParseBase32Seed(k.Secret()); err != nil {
		return Key{}, fmt.Errorf("%w: secret: %s", ErrURI, unprefixed(err))
	}
	key.Spec = DefaultSpec
	if q.Has("algorithm") {
		if key.Spec.Algorithm, err = ParseAlgorithm(q.Get("algorithm")); err != nil {
			return Key{}, fmt.Errorf("%w: %s", ErrURI, unprefixed(err))
		}
	}
	if q.Has("digits") {
		d, err := strconv.Atoi(q.Get("digits"))
		if err != nil {
			return Key{}, fmt.Errorf("%w: digits %q is not a number", ErrURI, truncate(q.Get("digits")))
		}
		if err := ValidDigits(d); err != nil {
			return Key{}, fmt.Errorf("%w: %s", ErrURI, unprefixed(err))
		}
		key.Spec.Digits = d
	}
	switch key.Type {
	case TOTP:
		if q.Has("period") {
			p, err := strconv.Atoi(q.Get("period"))
			if err != nil {
				return Key{}, fmt.Errorf("%w: period %q is not a number", ErrURI, truncate(q.Get("period")))
			}
			if p <= 0 || p > 3600 {
				return Key{}, fmt.Errorf("%w: period %d out of range", ErrURI, p)
			}
			if err := ValidPeriod(time.Duration(p) * time.Second); err != nil {
				return Key{}, fmt.Errorf("%w: %s", ErrURI, unprefixed(err))
			}
			key.Spec.Period = time.Duration(p) * time.Second
		}
	case HOTP:
		if !q.Has("counter") {
			return Key{}, fmt.Errorf("%w: an hotp URI needs a counter parameter", ErrURI)
		}
		if key.Counter, err = strconv.ParseUint(q.Get("counter"), 10, 64); err != nil {
			return Key{}, fmt.Errorf("%w: counter %q is not a number", ErrURI, truncate(q.Get("counter")))
		}
	}
	return key, nil
}

// unprefixed is err's text without this package's "token: " prefix, for
// wrapping one of our own errors in another.
func unprefixed(err error) string { return strings.TrimPrefix(err.Error(), "token: ") }
