package ctap_test

import (
	"context"
	"crypto/rand"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/cose"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/emulator"
)

// wireClock records, for each request, how long the far side held it: from
// the host's last write to the first report read back. That span is the
// authenticator's time (device-side CTAPHID included) as seen on the wire.
type wireClock struct {
	rw        io.ReadWriteCloser
	mu        sync.Mutex
	lastWrite time.Time
	waiting   bool
	device    time.Duration
}

func (w *wireClock) Write(b []byte) (int, error) {
	// Stamp before writing: the key may answer before Write returns.
	w.mu.Lock()
	w.lastWrite, w.waiting = time.Now(), true
	w.mu.Unlock()
	return w.rw.Write(b)
}

func (w *wireClock) Read(b []byte) (int, error) {
	n, err := w.rw.Read(b)
	w.mu.Lock()
	if w.waiting {
		w.device += time.Since(w.lastWrite)
		w.waiting = false
	}
	w.mu.Unlock()
	return n, err
}

func (w *wireClock) Close() error { return w.rw.Close() }

// BenchmarkGetAssertionClientOverhead measures getAssertion round trips
// against the in-process simulated key; client-ns/op is the host's own
// share (CBOR, framing, reassembly, parsing and signature verification
// excluded: VerifyAssertion is not called), authenticator-ns/op the
// device's.
func BenchmarkGetAssertionClientOverhead(b *testing.B) {
	key, err := emulator.NewSecurityKey(emulator.SecurityKeyOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer key.Close()
	wc := &wireClock{rw: key.Open()}
	dev := ctaphid.NewDevice(wc)
	defer dev.Close()
	ctx := context.Background()
	ch, err := dev.Open(ctx)
	if err != nil {
		b.Fatal(err)
	}
	c := ctap.NewClient(ch)
	cdh := make([]byte, 32)
	rand.Read(cdh)
	mc, err := c.MakeCredential(ctx, &ctap.MakeCredentialRequest{ClientDataHash: cdh, RP: ctap.RPEntity{ID: "bench.example"},
		User: ctap.UserEntity{ID: []byte{1}, Name: "b"}, PubKeyCredParams: []ctap.CredentialParam{{Type: "public-key", Alg: cose.AlgES256}}})
	if err != nil {
		b.Fatal(err)
	}
	ad, _ := ctap.ParseAuthData(mc.AuthData)
	req := &ctap.GetAssertionRequest{RPID: "bench.example", ClientDataHash: cdh,
		AllowList: []ctap.CredentialDescriptor{{Type: "public-key", ID: ad.Attested.CredentialID}}}
	wc.mu.Lock()
	wc.device = 0
	wc.mu.Unlock()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := c.GetAssertion(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	total := time.Since(start)
	b.StopTimer()
	wc.mu.Lock()
	device := wc.device
	wc.mu.Unlock()
	n := float64(b.N)
	b.ReportMetric(float64(total-device)/n, "client-ns/op")
	b.ReportMetric(float64(device)/n, "authenticator-ns/op")
}
