package iamapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/iamapi"
)

const (
	benchClients = 64
	benchUsers   = 48
	benchDevices = benchUsers * verify.MaxDevicesPerUser // 384 hardware tokens
)

// stepClock is the verifier's clock in the benchmark: request i uses the
// code of step base+1+i/benchDevices on device i%benchDevices, and the
// clock follows the highest request issued, so every request carries a
// fresh code of the current step and no device is used twice in a step.
type stepClock struct {
	base   time.Time // start of the step the devices were enabled in
	issued atomic.Int64
}

func (c *stepClock) Now() time.Time {
	step := 1 + c.issued.Load()/benchDevices
	return c.base.Add(time.Duration(step)*30*time.Second + time.Second)
}

type benchDevice struct {
	serial string
	user   int
	seed   token.Seed
}

// BenchmarkGetSessionToken measures STS GetSessionToken with MFA, SigV4
// signed, from 64 concurrent clients against the embedded default (the
// real service on SQLite, every accepted code fsynced before its answer), beside a bare net/http
// handler answering the same signed requests in the same run. It reports
// both throughputs, their ratio and the 99th percentile latencies.
func BenchmarkGetSessionToken(b *testing.B) {
	ctx := context.Background()
	clock := &stepClock{base: time.Now().Truncate(30 * time.Second)}
	clockNow := func() time.Time {
		if clock.issued.Load() < 0 { // during set-up
			return clock.base.Add(time.Second)
		}
		return clock.Now()
	}
	clock.issued.Store(-1)
	// The verifier's clock moves a step (30 s) every 384 requests, some
	// thousand times faster than real time, so the access-key cache's 5 s
	// would lapse every few dozen milliseconds instead of every 5 s: give
	// it the same 5 s of real time, about an hour and a half of this clock.
	v := newVerifierConfig(b, verify.Config{Now: clockNow, AccessKeyCacheTTL: 90 * time.Minute})

	// Users with a key each, and 8 hardware tokens per user.
	keys := make([]aws.Credentials, benchUsers)
	var recs []verify.TokenRecord
	var devs []benchDevice
	for u := range benchUsers {
		name := "bench-" + itoa(u)
		if _, err := v.CreateUser(ctx, name, verify.UserOptions{}); err != nil {
			b.Fatal(err)
		}
		k, err := v.CreateAccessKey(ctx, name)
		if err != nil {
			b.Fatal(err)
		}
		keys[u] = aws.Credentials{AccessKeyID: k.ID, SecretAccessKey: k.Secret}
		for d := range verify.MaxDevicesPerUser {
			n := u*verify.MaxDevicesPerUser + d
			s, _ := token.NewSerial("BNCH", uint64(n))
			seed := make(token.Seed, 20)
			copy(seed, []byte(s))
			seed[19] = byte(n)
			seed[18] = byte(n >> 8)
			recs = append(recs, verify.TokenRecord{Serial: s, Spec: token.DefaultSpec, Seed: seed})
			devs = append(devs, benchDevice{serial: string(s), user: u, seed: seed})
		}
	}
	if _, err := v.ImportTokens(ctx, verify.TokenList(recs...)); err != nil {
		b.Fatal(err)
	}
	s0 := token.DefaultSpec.Step(clock.base)
	parallel(benchClients, len(devs), func(n int) {
		d := devs[n]
		c1, c2 := token.DefaultSpec.HOTP(d.seed, s0-1), token.DefaultSpec.HOTP(d.seed, s0)
		if err := v.Enable(ctx, "bench-"+itoa(d.user), d.serial, c1, c2); err != nil {
			b.Error(err)
		}
	})
	if b.Failed() {
		return
	}

	srv := httptest.NewServer(iamapi.New(v, iamapi.Config{}))
	defer srv.Close()
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/xml")
		w.Write(bareAnswer)
	}))
	defer bare.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients}}

	// request builds the signed GetSessionToken of request n.
	request := func(base string, n int64) *http.Request {
		d := devs[n%benchDevices]
		code := token.DefaultSpec.HOTP(d.seed, s0+1+uint64(n/benchDevices))
		body := url.Values{"Action": {"GetSessionToken"}, "Version": {"2011-06-15"}, "SerialNumber": {d.serial}, "TokenCode": {code}, "DurationSeconds": {"900"}}.Encode()
		r, _ := http.NewRequest("POST", base+"/", bytes.NewReader([]byte(body)))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(ctx, keys[d.user], r, hex.EncodeToString(sum[:]), "sts", "us-east-1", time.Now()); err != nil {
			b.Fatal(err)
		}
		return r
	}

	// run sends count requests from benchClients clients, numbered on from
	// next, and returns the elapsed time, the latencies and the count of
	// non-200 answers.
	run := func(base string, count int, next *atomic.Int64) (time.Duration, []time.Duration, int64) {
		total := next.Load() + 1 + int64(count)
		var failed atomic.Int64
		lat := make([][]time.Duration, benchClients)
		start := time.Now()
		var wg sync.WaitGroup
		for g := range benchClients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					n := next.Add(1)
					if n >= total {
						next.Add(-1) // keep the clock on the last request issued
						return
					}
					r := request(base, n)
					t0 := time.Now()
					resp, err := client.Do(r)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					lat[g] = append(lat[g], time.Since(t0))
					if resp.StatusCode != 200 {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start), slices.Concat(lat...), failed.Load()
	}

	// The two servers take turns, in rounds, so that a change in the load
	// of a shared machine weighs on both alike.
	b.ResetTimer()
	var bareNext atomic.Int64
	bareNext.Store(-1)
	var bareTime, ourTime time.Duration
	var bareLat, ourLat []time.Duration
	var failed int64
	const rounds = 4
	for r := range rounds {
		n := b.N/rounds + min(1, max(0, b.N%rounds-r)) // the rounds add up to b.N
		t, lat, _ := run(bare.URL, n, &bareNext)
		bareTime, bareLat = bareTime+t, append(bareLat, lat...)
		t, lat, f := run(srv.URL, n, &clock.issued)
		ourTime, ourLat, failed = ourTime+t, append(ourLat, lat...), failed+f
	}
	b.StopTimer()
	// The verifier alone, called in-process the same way: the ceiling
	// for the endpoint, which adds HTTP, SigV4 and XML to it.
	var directFailed atomic.Int64
	first := clock.issued.Load() + 1
	start := time.Now()
	parallel(benchClients, b.N, func(k int) {
		n := clock.issued.Add(1)
		d := devs[n%benchDevices]
		code := token.DefaultSpec.HOTP(d.seed, s0+1+uint64(n/benchDevices))
		if _, err := v.CreateSession(ctx, "bench-"+itoa(d.user), d.serial, code, 15*time.Minute); err != nil {
			directFailed.Add(1)
		}
	})
	direct := float64(clock.issued.Load()+1-first) / time.Since(start).Seconds()
	failed += directFailed.Load()
	if failed > int64(b.N)/50 { // 1% of the 2*b.N sessions
		b.Fatalf("%d of %d GetSessionToken calls refused", failed, b.N)
	}
	ours := float64(b.N) / ourTime.Seconds()
	ref := float64(b.N) / bareTime.Seconds()
	b.ReportMetric(ours, "req/s")
	b.ReportMetric(ref, "bare-req/s")
	b.ReportMetric(ours/ref, "ratio")
	b.ReportMetric(direct, "verifier-req/s")
	b.ReportMetric(float64(p99(ourLat).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(p99(bareLat).Microseconds())/1000, "bare-p99-ms")
	b.ReportMetric(float64(failed), "refused")
}

var bareAnswer = []byte(`<GetSessionTokenResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetSessionTokenResult><Credentials>` +
	`<AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>x</SecretAccessKey><SessionToken>y</SessionToken>` +
	`<Expiration>2026-01-01T00:00:00Z</Expiration></Credentials></GetSessionTokenResult>` +
	`<ResponseMetadata><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ResponseMetadata></GetSessionTokenResponse>`)

func p99(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[(len(d)*99)/100]
}

// parallel runs f(0..n-1) on workers goroutines.
func parallel(workers, n int, f func(int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		}()
	}
	wg.Wait()
}
