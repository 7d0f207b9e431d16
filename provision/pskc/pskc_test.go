package pskc

import (
	"bytes"
	"crypto/aes"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const rfcPSK = "12345678901234567890123456789012"

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readAll reads every key package of a file.
func readAll(t testing.TB, path string, opts ReaderOptions) ([]*Key, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return readFrom(f, opts)
}

func readFrom(in io.Reader, opts ReaderOptions) ([]*Key, error) {
	r, err := NewReader(in, opts)
	if err != nil {
		return nil, err
	}
	var keys []*Key
	for {
		k, err := r.Next()
		if err == io.EOF {
			return keys, nil
		}
		if err != nil {
			return keys, err
		}
		keys = append(keys, k)
	}
}

type wantKey struct {
	serial, id, alg, secret string // secret in hex
	digits                  int
}

// The secrets are those RFC 6030's text gives ("12345678901234567890" for
// the HOTP keys, "1234" for the PIN), confirmed with python-pskc.
func TestRFC6030Examples(t *testing.T) {
	const hotpSecret = "3132333435363738393031323334353637383930"
	hotp := func(serial, id string, digits int) wantKey {
		return wantKey{serial, id, HOTP, hotpSecret, digits}
	}
	tests := []struct {
		file string
		opts ReaderOptions
		want []wantKey
		err  error
	}{
		{"figure2", ReaderOptions{}, []wantKey{{"", "12345678", HOTP, "31323334", 0}}, nil},
		{"figure3", ReaderOptions{}, []wantKey{hotp("987654321", "12345678", 8)}, nil},
		{"figure4", ReaderOptions{}, []wantKey{{"987654321", "12345678", HOTP, "", 8}}, nil},
		{"figure5", ReaderOptions{}, []wantKey{hotp("987654321", "12345678", 8), {"987654321", "123456781", PIN, "31323334", 4}}, nil},
		{"figure6", ReaderOptions{PreSharedKey: mustHex(t, rfcPSK)}, []wantKey{hotp("987654321", "12345678", 8)}, nil},
		{"figure7", ReaderOptions{Passphrase: []byte("qwerty")}, []wantKey{hotp("987654321", "123456", 8)}, nil},
		{"figure8", ReaderOptions{}, nil, ErrUnsupported}, // RSA key transport
		{"figure8", ReaderOptions{SkipSecrets: true}, []wantKey{{"987654321", "MBK000000001", HOTP, "", 6}}, nil},
		{"figure9", ReaderOptions{}, []wantKey{hotp("0755225266", "123", 6)}, nil},
		{"figure10", ReaderOptions{}, []wantKey{hotp("654321", "1", 8), hotp("123456", "2", 8), hotp("9999999", "3", 8), hotp("9999999", "4", 8)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			keys, err := readAll(t, filepath.Join("testdata", "rfc6030", tt.file+".pskcxml"), tt.opts)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkKeys(t, keys, tt.want)
		})
	}
}

func checkKeys(t *testing.T, keys []*Key, want []wantKey) {
	t.Helper()
	if len(keys) != len(want) {
		t.Fatalf("got %d keys, want %d", len(keys), len(want))
	}
	for i, k := range keys {
		w := want[i]
		if k.SerialNo != w.serial || k.ID != w.id || k.Algorithm != w.alg || hex.EncodeToString(k.Secret) != w.secret || k.ResponseLength != w.digits {
			t.Errorf("key %d = serial %q id %q alg %q secret %x digits %d, want %+v", i+1, k.SerialNo, k.ID, k.Algorithm, k.Secret, k.ResponseLength, w)
		}
	}
}

// The keys are in each file's comment; the secrets come from python-pskc.
func TestEncryptionAlgorithms(t *testing.T) {
	rep := func(n int) string { return strings.Repeat("1234567890", 7)[:n] }
	const secret = "3132333435363738393031323334353637383930"
	tests := []struct {
		file, key, secret string
		err               error
	}{
		{"aes128-cbc", rep(32), secret, nil},
		{"aes192-cbc", rep(48), secret, nil},
		{"aes256-cbc", rep(64), secret, nil},
		{"kw-aes128", "000102030405060708090A0B0C0D0E0F", "00112233445566778899aabbccddeeff", nil},
		{"kw-aes192", "000102030405060708090A0B0C0D0E0F1011121314151617", "00112233445566778899aabbccddeeff", nil},
		{"kw-aes256", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899aabbccddeeff0001020304050607", nil},
		{"mac-over-plaintext", rep(32), secret, nil},
		{"no-mac-key", rep(32), secret, nil},
		{"aes128-cbc-noiv", rep(32), "", ErrMAC}, // the IV is not in the file
		{"aes128-cbc", rep(48), "", ErrDecrypt},  // key of the wrong size
		{"kw-aes128", rep(32), "", ErrDecrypt},   // wrong key: unwrap check fails
		{"tripledes-cbc", rep(48), "", ErrUnsupported},
		{"kw-tripledes", rep(48), "", ErrUnsupported},
		{"camellia128-cbc", rep(32), "", ErrUnsupported},
		{"camellia192-cbc", rep(48), "", ErrUnsupported},
		{"camellia256-cbc", rep(64), "", ErrUnsupported},
		{"kw-camellia128", rep(32), "", ErrUnsupported},
		{"kw-camellia192", rep(48), "", ErrUnsupported},
		{"kw-camellia256", rep(64), "", ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			keys, err := readAll(t, filepath.Join("testdata", "encryption", tt.file+".pskcxml"), ReaderOptions{PreSharedKey: mustHex(t, tt.key)})
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				if !strings.Contains(err.Error(), "key package 1") {
					t.Errorf("error %q does not name the key package", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 1 || hex.EncodeToString(keys[0].Secret) != tt.secret {
				t.Fatalf("got %d keys, secret %x; want %s", len(keys), keys[0].Secret, tt.secret)
			}
		})
	}
	t.Run("no key given", func(t *testing.T) {
		_, err := readAll(t, "testdata/encryption/aes128-cbc.pskcxml", ReaderOptions{})
		if !errors.Is(err, ErrKeyRequired) {
			t.Fatalf("err = %v, want ErrKeyRequired", err)
		}
	})
}

// Every document in invalid/ is refused, each for its own reason. The
// pre-shared key and passphrase are the right ones, so the failure is the
// document's.
func TestInvalidDocuments(t *testing.T) {
	want := map[string]error{
		"incomplete-derivation":     ErrFormat,
		"mac-algorithm":             ErrUnsupported,
		"mac-value":                 ErrMAC,
		"missing-encryption-method": ErrFormat,
		"missing-encryption":        ErrFormat,
		"no-mac-method":             ErrFormat,
		"not-boolean":               ErrFormat,
		"not-integer":               ErrFormat,
		"not-integer2":              ErrFormat,
		"notxml":                    ErrFormat,
		"unknown-encryption":        ErrUnsupported,
		"wrongelement":              ErrFormat,
		"wrongversion":              ErrFormat,
	}
	files, _ := filepath.Glob("testdata/invalid/*.pskcxml")
	if len(files) != len(want) {
		t.Fatalf("%d files in testdata/invalid, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".pskcxml")
		t.Run(name, func(t *testing.T) {
			_, err := readAll(t, f, ReaderOptions{PreSharedKey: mustHex(t, rfcPSK), Passphrase: []byte("qwerty")})
			if !errors.Is(err, want[name]) {
				t.Fatalf("err = %v, want %v", err, want[name])
			}
			t.Log(err)
		})
	}
}

func TestMiscDocuments(t *testing.T) {
	t.Run("SampleFullyQualifiedNS", func(t *testing.T) {
		keys, err := readAll(t, "testdata/misc/SampleFullyQualifiedNS.xml", ReaderOptions{Passphrase: []byte("3FCA3158035072D6")})
		if err != nil {
			t.Fatal(err)
		}
		const s = "09fbecfd0bf47910839e2eb05ffa10b95cd0390950ce32ab790583ed134171e0"
		if len(keys) != 2 || hex.EncodeToString(keys[0].Secret) != s || keys[0].Suite != "HMAC-SHA256" || *keys[0].TimeInterval != 172800 || keys[1].Suite != "OCRA-1:HOTP-SHA256-9:QN02-T2H" {
			t.Fatalf("keys = %+v", keys)
		}
		if keys[0].SerialNo != "XXXX0000001F" || keys[0].Algorithm != TOTP {
			t.Errorf("serial %q algorithm %q", keys[0].SerialNo, keys[0].Algorithm)
		}
	})
	t.Run("integers", func(t *testing.T) {
		keys, err := readAll(t, "testdata/misc/integers.pskcxml", ReaderOptions{PreSharedKey: mustHex(t, rfcPSK)})
		if err != nil {
			t.Fatal(err)
		}
		want := []uint64{831791, 709791, 405834, 298507, 961392}
		if len(keys) != len(want) {
			t.Fatalf("%d keys", len(keys))
		}
		for i, k := range keys {
			if k.Counter == nil || *k.Counter != want[i] {
				t.Errorf("key %d: counter %v, want %d", i+1, k.Counter, want[i])
			}
		}
	})
	t.Run("checkdigits", func(t *testing.T) {
		keys, err := readAll(t, "testdata/misc/checkdigits.pskcxml", ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		type fc struct {
			n     int
			check bool
			enc   string
		}
		want := []fc{{8, false, "DECIMAL"}, {9, true, "DECIMAL"}, {3, true, "DECIMAL"}, {6, false, "ALPHANUMERIC"}}
		for i, k := range keys {
			if got := (fc{k.ResponseLength, k.ResponseCheck, k.ResponseEncoding}); got != want[i] {
				t.Errorf("key %d: %+v, want %+v", i+1, got, want[i])
			}
		}
	})
	t.Run("odd-namespace", func(t *testing.T) {
		keys, err := readAll(t, "testdata/misc/odd-namespace.pskcxml", ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		checkKeys(t, keys, []wantKey{{"", "12345678", HOTP, "31323334", 0}})
	})
	t.Run("partialxml", func(t *testing.T) {
		keys, err := readAll(t, "testdata/misc/partialxml.pskcxml", ReaderOptions{})
		if err != nil || len(keys) != 6 {
			t.Fatalf("%d keys, err %v", len(keys), err)
		}
		for _, k := range keys {
			if k.Secret != nil || k.Counter != nil {
				t.Errorf("empty key package read as %+v", k)
			}
		}
	})
	t.Run("policy", func(t *testing.T) {
		keys, err := readAll(t, "testdata/misc/policy.pskcxml", ReaderOptions{})
		if err != nil || len(keys) != 5 {
			t.Fatalf("%d keys, err %v", len(keys), err)
		}
		k := keys[0]
		if k.StartDate.Year() != 2006 || k.ExpiryDate.Year() != 2026 || *k.NumberOfTransactions != 4321 || k.PINKeyID != "123456781" || k.PINMinLength != 4 || k.KeyUsage[0] != "OTP" {
			t.Errorf("policy = %+v", k)
		}
	})
}

// RFC 3394 §4.1: 128 bits of key data wrapped with a 128-bit KEK.
func TestKeyWrapRFC3394(t *testing.T) {
	block, _ := aes.NewCipher(mustHex(t, "000102030405060708090A0B0C0D0E0F"))
	pt := mustHex(t, "00112233445566778899AABBCCDDEEFF")
	ct := wrapKey(block, pt)
	if got, want := hex.EncodeToString(ct), "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5"; got != want {
		t.Fatalf("wrap = %s, want %s", got, want)
	}
	back, err := unwrapKey(block, ct)
	if err != nil || !bytes.Equal(back, pt) {
		t.Fatalf("unwrap = %x, %v", back, err)
	}
	ct[3] ^= 1
	if _, err := unwrapKey(block, ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("tampered unwrap: %v", err)
	}
}
