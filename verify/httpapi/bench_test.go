package httpapi_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/httpapi"
)

// accepting is a verifier whose checks always pass, so the benchmark
// measures the API layer alone.
type accepting struct{ *fake }

func (accepting) Check(ctx context.Context, user, device, code string) (verify.Decision, error) {
	return verify.Decision{Accepted: true, Step: 1}, nil
}

// BenchmarkCheckLayer measures what the API adds to a check (auth with
// its cache, strict decoding, validation, metrics, encoding) over a bare
// handler that only decodes, validates and encodes, in-process without a
// network; it reports the ratio bare/API as "ratio".
func BenchmarkCheckLayer(b *testing.B) {
	body := []byte(`{"user":"alice","device":"arn:aws:iam::123456789012:mfa/alice-phone","code":"123456"}`)
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req httpapi.CheckRequest
		if err := httpapi.DecodeJSON(http.MaxBytesReader(w, r.Body, httpapi.MaxJSONBody), httpapi.MaxJSONBody, &req); err != nil {
			w.WriteHeader(400)
			return
		}
		if err := httpapi.ValidCheck(req); err != nil {
			w.WriteHeader(400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"accepted":true,"step":1}` + "\n"))
	})
	api := httpapi.New(accepting{newFake()}, httpapi.Config{})
	run := func(b *testing.B, h http.Handler) time.Duration {
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req := httptest.NewRequest("POST", "/api/v1/mfa/check", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+fakeToken)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
		return time.Since(start) / time.Duration(max(b.N, 1))
	}
	var bareNs, apiNs time.Duration
	b.Run("bare", func(b *testing.B) { bareNs = run(b, bare) })
	b.Run("api", func(b *testing.B) {
		apiNs = run(b, api)
		if apiNs > 0 && bareNs > 0 {
			b.ReportMetric(float64(bareNs)/float64(apiNs), "ratio")
		}
	})
}
