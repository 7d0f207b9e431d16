package verify_test

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/firmware-sim/hw"
	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/postgres"
	"github.com/tokenlab/tokenlab/verify/seal"
	"github.com/tokenlab/tokenlab/verify/sqlite"
	"github.com/tokenlab/tokenlab/verify/storetest"
)

// benchDevice walks forward one step per check: with the clock stopped,
// each accepted code is one step ahead of the last, inside the window
// around (now + drift), and nudges the drift one step on. So every check is
// a valid code and a real compare-and-set.
type benchDevice struct {
	user, id string
	h        *token.HOTPer
	next     uint64
	buf      [8]byte
}

func (d *benchDevice) code() string {
	c := string(d.h.Append(d.buf[:0], d.next))
	d.next++
	return c
}

// setupBench enrolls n devices (8 per user) on svc, clock stopped at t0.
func setupBench(b *testing.B, svc *verify.Service, n int) []*benchDevice {
	ctx := context.Background()
	spec := token.DefaultSpec
	cur := spec.Step(t0)
	recs := importBench(b, svc, "BNCH", n)
	devs := make([]*benchDevice, n)
	for i, r := range recs {
		u := "u" + string(rune('a'+i/8%26)) + string(rune('a'+i/8/26))
		if i%8 == 0 {
			if _, err := svc.CreateUser(ctx, u, verify.UserOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		if err := svc.Enable(ctx, u, string(r.Serial), spec.HOTP(r.Seed, cur-1), spec.HOTP(r.Seed, cur)); err != nil {
			b.Fatal(err)
		}
		devs[i] = &benchDevice{user: u, id: string(r.Serial), h: token.NewHOTPer(spec.Algorithm, spec.Digits, r.Seed), next: cur + 1}
	}
	return devs
}

// importBench puts n hardware tokens with fresh seeds, serials prefix
// and a counter, into svc's inventory and returns them.
func importBench(b *testing.B, svc *verify.Service, prefix string, n int) []verify.TokenRecord {
	var recs []verify.TokenRecord
	for i := 0; i < n; i++ {
		s, _ := token.NewSerial(prefix, uint64(i))
		seed, _ := token.GenerateSeed(rand.Reader, token.SHA1)
		recs = append(recs, verify.TokenRecord{Serial: s, Spec: token.DefaultSpec, Seed: seed})
	}
	if _, err := svc.ImportTokens(context.Background(), verify.TokenList(recs...)); err != nil {
		b.Fatal(err)
	}
	return recs
}

// runChecks runs rounds of one valid check on each device, concurrently,
// and returns how long they took. Each round moves clk one step on and
// uses the code of that step: a device accepts a code only in the window
// around now (the drift cannot be walked), so the clock has to follow.
func runChecks(b *testing.B, svc *verify.Service, clk *hw.ManualTime, devs []*benchDevice, rounds int) time.Duration {
	ctx := context.Background()
	var elapsed time.Duration
	for range rounds {
		clk.Advance(30 * time.Second)
		var wg sync.WaitGroup
		start := time.Now()
		for _, d := range devs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dec, err := svc.Check(ctx, d.user, d.id, d.code())
				if err != nil || !dec.Accepted {
					b.Errorf("check %s: %+v, %v", d.id, dec, err)
				}
			}()
		}
		wg.Wait()
		elapsed += time.Since(start)
	}
	return elapsed
}

type benchStore struct {
	name string
	open func(b *testing.B, grouped bool) verify.Store
}

var benchStores = []benchStore{
	{"sqlite", func(b *testing.B, grouped bool) verify.Store {
		var opts []sqlite.Option
		if !grouped {
			opts = append(opts, sqlite.WithoutGroupCommit())
		}
		st, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"), opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	}},
	{"postgres", func(b *testing.B, grouped bool) verify.Store {
		var opts []postgres.Option
		if !grouped {
			opts = append(opts, postgres.WithoutGroupCommit())
		}
		st, err := postgres.Open(context.Background(), storetest.PostgresDSN(b), opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	}},
}

// BenchmarkCheckGroupCommit measures valid-code checks by 64 concurrent
// clients, each on its own device, with group commit and with one
// transaction per check, and reports both rates and their ratio.
func BenchmarkCheckGroupCommit(b *testing.B) {
	const clients, perClient = 64, 8
	for _, bs := range benchStores {
		b.Run(bs.name, func(b *testing.B) {
			kek, err := seal.LoadOrCreateKEK(filepath.Join(b.TempDir(), "kek"))
			if err != nil {
				b.Fatal(err)
			}
			gc, sc := hw.NewManualTime(t0), hw.NewManualTime(t0)
			grouped := verify.New(bs.open(b, true), kek, verify.Config{Now: gc.Now})
			single := verify.New(bs.open(b, false), kek, verify.Config{Now: sc.Now})
			gd := setupBench(b, grouped, clients)
			sd := setupBench(b, single, clients)
			var tg, ts time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tg += runChecks(b, grouped, gc, gd, perClient)
				ts += runChecks(b, single, sc, sd, perClient)
			}
			n := float64(b.N * clients * perClient)
			b.ReportMetric(n/tg.Seconds(), "group-checks/s")
			b.ReportMetric(n/ts.Seconds(), "single-checks/s")
			b.ReportMetric(ts.Seconds()/tg.Seconds(), "group/single")
		})
	}
}

// BenchmarkEnableGroupCommit measures 64 concurrent enrollments (Enable
// with two codes, each on its own device) on SQLite, where Enable goes
// through the group commit, against a store without group commit (one
// transaction and one fsync each), and reports both rates and their ratio.
func BenchmarkEnableGroupCommit(b *testing.B) {
	const clients, perRound = 64, 512
	kek, err := seal.LoadOrCreateKEK(filepath.Join(b.TempDir(), "kek"))
	if err != nil {
		b.Fatal(err)
	}
	enable := func(grouped bool) time.Duration {
		svc := verify.New(benchStores[0].open(b, grouped), kek, verify.Config{Now: func() time.Time { return t0 }})
		ctx := context.Background()
		spec := token.DefaultSpec
		cur := spec.Step(t0)
		recs := importBench(b, svc, "ENRL", perRound)
		for u := 0; u < perRound/verify.MaxDevicesPerUser; u++ {
			if _, err := svc.CreateUser(ctx, "u"+string(rune('a'+u%26))+string(rune('a'+u/26)), verify.UserOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		var next sync.WaitGroup
		work := make(chan int)
		start := time.Now()
		for range clients {
			next.Add(1)
			go func() {
				defer next.Done()
				for i := range work {
					u := i / verify.MaxDevicesPerUser
					r := recs[i]
					if err := svc.Enable(ctx, "u"+string(rune('a'+u%26))+string(rune('a'+u/26)), string(r.Serial), spec.HOTP(r.Seed, cur-1), spec.HOTP(r.Seed, cur)); err != nil {
						b.Error(err)
					}
				}
			}()
		}
		for i := range recs {
			work <- i
		}
		close(work)
		next.Wait()
		return time.Since(start)
	}
	var tg, ts time.Duration
	for i := 0; i < b.N; i++ {
		tg += enable(true)
		ts += enable(false)
	}
	n := float64(b.N * perRound)
	b.ReportMetric(n/tg.Seconds(), "group-enables/s")
	b.ReportMetric(n/ts.Seconds(), "single-enables/s")
	b.ReportMetric(ts.Seconds()/tg.Seconds(), "group/single")
}
