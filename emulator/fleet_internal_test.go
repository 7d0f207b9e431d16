package emulator

import (
	"bytes"
	"crypto/hmac"
	"io"
	"testing"

	"github.com/tokenlab/tokenlab/firmware-sim/hw"
	"github.com/tokenlab/tokenlab/token"
)

// Both HMAC paths of the fleet agree with crypto/hmac.
func TestFleetMACPaths(t *testing.T) {
	if !precomputed() {
		t.Fatal("digest state layout check failed; the fleet runs on its slow path")
	}
	rng := hw.SeededRNG(11)
	w := newMACWorker()
	for _, a := range []token.Algorithm{token.SHA1, token.SHA256, token.SHA512} {
		for n := 1; n <= blockSize(a); n += 7 {
			key := make([]byte, n)
			io.ReadFull(rng, key)
			msg := make([]byte, 8)
			io.ReadFull(rng, msg)
			m := hmac.New(a.Hash(), key)
			m.Write(msg)
			want := m.Sum(nil)
			if got := w.macFromKey(a, key, msg); !bytes.Equal(got, want) {
				t.Errorf("%v, %d-byte key: macFromKey differs from crypto/hmac", a, n)
			}
			if got := w.macFromStates(a, hmacStates(a, key), msg); !bytes.Equal(got, want) {
				t.Errorf("%v, %d-byte key: macFromStates differs from crypto/hmac", a, n)
			}
		}
	}
}
