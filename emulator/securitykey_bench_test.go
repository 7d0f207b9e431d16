package emulator

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
)

// interleaved runs op b.N times in chunks, each chunk followed by as many
// raw ECDSA P-256 signatures (SHA-256 digest, DER), and returns both rates
// per second. Interleaving makes the comparison fair on a shared machine
// whose load changes during the run; the raw chunks are outside the
// benchmark timer.
func interleaved(b *testing.B, op func()) (opRate, rawRate float64) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	h := sha256.Sum256([]byte("raw"))
	var opTime, rawTime time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(32, b.N-done)
		t0 := time.Now()
		for i := 0; i < n; i++ {
			op()
		}
		opTime += time.Since(t0)
		b.StopTimer()
		t1 := time.Now()
		for i := 0; i < n; i++ {
			if _, err := ecdsa.SignASN1(rand.Reader, k, h[:]); err != nil {
				b.Fatal(err)
			}
		}
		rawTime += time.Since(t1)
		b.StartTimer()
		done += n
	}
	return float64(b.N) / opTime.Seconds(), float64(b.N) / rawTime.Seconds()
}

// roundTrip sends one CTAPHID message and returns the answer's payload,
// without the test host's deadlines (lean, for benchmarks).
func roundTrip(b *testing.B, rw reportRW, cid uint32, cmd ctaphid.Cmd, payload []byte, buf []byte) []byte {
	for _, p := range ctaphid.Fragment(cid, cmd, payload) {
		if _, err := rw.Write(p[:]); err != nil {
			b.Fatal(err)
		}
	}
	var asm ctaphid.Assembler
	for {
		n, err := rw.Read(buf)
		if err != nil {
			b.Fatal(err)
		}
		if n < 5 || uint32(buf[0])<<24|uint32(buf[1])<<16|uint32(buf[2])<<8|uint32(buf[3]) != cid {
			continue
		}
		m, err := asm.Add(buf[:n])
		if err != nil {
			b.Fatal(err)
		}
		if m != nil && m.Cmd != ctaphid.CmdKeepalive {
			return m.Data
		}
	}
}

func benchAssertions(b *testing.B, rw reportRW, h *testHost, k *SecurityKey) {
	req := mcReq("bench.example", "b")
	var r ctap.MakeCredentialResponse
	h.mustCBOR(ctap.CmdMakeCredential, req, &r)
	ad := parseAuthData(b, r.AuthData)
	ga := &ctap.GetAssertionRequest{RPID: "bench.example", ClientDataHash: cdh("bench"),
		AllowList: []ctap.CredentialDescriptor{{Type: "public-key", ID: ad.credID}}}
	benchCBOR(b, rw, h.cid, ctap.CmdGetAssertion, ga, "assertions/s")
}

// benchCBOR sends one CTAP2 command per iteration, interleaved with raw
// signing, and reports its rate in unit beside the raw rate and their
// ratio.
func benchCBOR(b *testing.B, rw reportRW, cid uint32, cmd ctap.Command, req any, unit string) {
	payload := append([]byte{byte(cmd)}, mustMarshal(b, req)...)
	buf := make([]byte, 2048)
	rate, raw := interleaved(b, func() {
		if resp := roundTrip(b, rw, cid, ctaphid.CmdCBOR, payload, buf); resp[0] != 0 {
			b.Fatalf("status %x", resp[0])
		}
	})
	b.ReportMetric(rate, unit)
	b.ReportMetric(raw, "raw-p256-signs/s")
	b.ReportMetric(rate/raw, "ratio-to-raw")
}

// BenchmarkGetAssertion: getAssertion round trips per second, beside the
// raw ECDSA P-256 signing rate of the same run (goal: in-process at 0.7 of
// raw signing or better).
func BenchmarkGetAssertion(b *testing.B) {
	b.Run("inprocess", func(b *testing.B) {
		k := newKey(b, SecurityKeyOptions{})
		h := newTestHost(b, k)
		benchAssertions(b, k, h, k)
	})
	b.Run("udp", func(b *testing.B) {
		k := newKey(b, SecurityKeyOptions{})
		srv := startUDP(b, k)
		c := dialUDP(b, srv)
		h := newTestHost(b, c)
		benchAssertions(b, c, h, k)
	})
}

// BenchmarkMakeCredential: non-resident makeCredential (key generation,
// key handle sealing, packed attestation) per second, in-process.
func BenchmarkMakeCredential(b *testing.B) {
	k := newKey(b, SecurityKeyOptions{})
	h := newTestHost(b, k)
	benchCBOR(b, k, h.cid, ctap.CmdMakeCredential, mcReq("bench.example", "m"), "credentials/s")
}
