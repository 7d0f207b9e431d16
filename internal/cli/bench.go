package cli

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/client"
	"github.com/tokenlab/tokenlab/verify/httpapi"
	"github.com/tokenlab/tokenlab/verify/postgres"
)

// tokenlab bench verify measures code checks per second through the JSON
// API against a bare net/http handler of the same shape, in one run, with
// the same clients sending the same requests (a device of the pool, its
// code for now, the bearer token), over real HTTP on 127.0.0.1.
//
// The verifier runs on real time, and a device accepts a code only for a
// time step later than the last one it accepted, so valid, never-replayed
// codes need many devices. The bench imports hardware tokens whose seeds it
// draws itself (one bulk import), enables each for a user (8 per user) with
// the codes of steps T-1 and T, and then hands each (device, step) to one
// client exactly once: a device whose last accepted step is L gets the code
// of step max(now, L+1) while that is at most now+1 (the ±1 window of a
// device whose clock runs up to one step ahead). The clients go round the
// devices in a random order by default (--order random), as sign-ins spread
// over the users, so consecutive checks land on different database pages;
// --order serial goes by serial number, whose neighbours share pages, the
// friendliest case for a B-tree. So each device gives one
// or two checks per 30 s step, and the pool is sized from the bare
// handler's throughput, probed first: devices = bare_rps × min(duration,
// 30 s) × 0.6, at least 16 per client. The measured phases then alternate
// in slices (--slice, 1 s) so that both see the same background load. If
// the pool runs dry, the bare handler's slice is cut to the same length,
// more devices are enrolled (not measured) and the run goes on; only at
// --max-devices does it end early, with rates over the time it ran (the
// output says so).

func init() {
	register(&group{
		name:    "bench",
		summary: "load benchmarks",
		verbs: map[string]*command{
			"verify": {
				usage:   "bench verify [--duration 10s] [--concurrency 64] [--db sqlite:PATH|postgres://…] [--processes N] [--devices N] [--order random|serial] [--warmup 5s] [--json]",
				summary: "Drive a bare net/http handler of the same JSON shape, then POST /api/v1/mfa/check with valid, never-replayed codes, with the same clients and requests over HTTP on 127.0.0.1; print both rates, their ratio and the check latency (p50, p99). Goal: ratio ≥ 0.5, p99 ≤ 20 ms.",
				example: "  tokenlab bench verify\n" +
					"  tokenlab bench verify --duration 5s --json\n" +
					"  tokenlab bench verify --db postgres://postgres@127.0.0.1:54329/bench --processes 2",
				flags: func(fs *pflag.FlagSet) {
					fs.Duration("duration", 10*time.Second, "how long each phase drives load (1s to 5m)")
					fs.Int("concurrency", 64, "concurrent clients (1 to 1024)")
					fs.String("db", "", "database: sqlite:PATH or postgres://… (default: SQLite in a temporary data directory; a PostgreSQL database gets bench users and tokens under a random prefix)")
					fs.Int("processes", 0, "with a postgres DSN: run this many 'tokenlab serve' child processes sharing it (0: the verifier in this process)")
					fs.Int("devices", 0, "devices to enroll (0: sized from the bare handler's rate)")
					fs.String("order", "random", "the order the clients go through the devices: random (as real sign-ins spread over the users) or serial (by serial number, neighbours on the same database pages)")
					fs.Int("max-devices", 0, "upper bound of the automatic device count (0: 400000 on SQLite, 100000 on PostgreSQL, where enrolling takes about ten times as long)")
					fs.Bool("json", false, "print one JSON object")
					fs.Duration("warmup", 5*time.Second, "drive the verifier this long first, unmeasured, so that its caches and SQLite's step log (whose first sweep starts after 65536 devices) are in their running state (0 to 1m)")
					fs.Duration("slice", time.Second, "alternate the verifier and the bare handler in slices this long (0: one slice each)")
					fs.String("cpuprofile", "", "write a CPU profile of the verifier's first slice (with --slice 0: of all its time) to this file")
				},
				run: runBenchVerify,
			},
		},
	})
}

// benchResult is what bench verify prints with --json.
type benchResult struct {
	VerifyRPS float64 `json:"verify_rps"`
	BareRPS   float64 `json:"bare_rps"`
	Ratio     float64 `json:"ratio"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	BareP50ms float64 `json:"bare_p50_ms"`
	BareP99ms float64 `json:"bare_p99_ms"`
	// CPU time of this process (user + system) per request in each phase:
	// client, server and verifier alike, so less at the mercy of other
	// load on the machine than the rates. Zero with --processes.
	VerifyCPUus float64 `json:"verify_cpu_us_per_req,omitempty"`
	BareCPUus   float64 `json:"bare_cpu_us_per_req"`
	// The store's group commits during the verifier's phase: the mean
	// batch, and on SQLite how many commits an fsync made durable and its
	// mean time. Zero with --processes.
	ChecksPerCommit float64 `json:"checks_per_commit,omitempty"`
	CommitsPerFsync float64 `json:"commits_per_fsync,omitempty"`
	FsyncMs         float64 `json:"fsync_ms,omitempty"`
	// On SQLite, the devices whose accepted step the step log held, not
	// yet swept into step_fold, at the end and at most after a slice: a
	// sweep that keeps up holds these near its start (65536).
	StepLogEnd   int64   `json:"step_log_devices,omitempty"`
	StepLogMax   int64   `json:"step_log_max,omitempty"`
	Accepted     int64   `json:"accepted"`
	Refused      int64   `json:"refused"`
	Errors       int64   `json:"errors"`
	VerifySecs   float64 `json:"verify_seconds"`
	BareSecs     float64 `json:"bare_seconds"`
	PoolDry      bool    `json:"pool_ran_dry"`
	Devices      int     `json:"devices"`
	EnrollSecs   float64 `json:"enroll_seconds"`
	WarmupSecs   float64 `json:"warmup_seconds"`
	Concurrency  int     `json:"concurrency"`
	DB           string  `json:"db"`
	Order        string  `json:"order"`
	Processes    int     `json:"processes"`
	GoalRatioMet bool    `json:"goal_ratio_met"`
	GoalP99Met   bool    `json:"goal_p99_met"`
}

func runBenchVerify(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usagef("bench verify: unexpected argument %q", args[0])
	}
	dur, _ := fs.GetDuration("duration")
	conc, _ := fs.GetInt("concurrency")
	db, _ := fs.GetString("db")
	procs, _ := fs.GetInt("processes")
	ndev, _ := fs.GetInt("devices")
	maxDev, _ := fs.GetInt("max-devices")
	asJSON, _ := fs.GetBool("json")
	order, _ := fs.GetString("order")
	warm, _ := fs.GetDuration("warmup")
	switch {
	case warm < 0 || warm > time.Minute:
		return usagef("--warmup must be 0 to 1m")
	case dur < time.Second || dur > 5*time.Minute:
		return usagef("--duration must be 1s to 5m")
	case conc < 1 || conc > 1024:
		return usagef("--concurrency must be 1 to 1024")
	case ndev < 0 || ndev > 1_000_000 || maxDev < 0 || maxDev > 1_000_000:
		return usagef("--devices and --max-devices must be 0 to 1000000")
	case procs < 0 || procs > 8:
		return usagef("--processes must be 0 to 8")
	case order != "random" && order != "serial":
		return usagef("--order must be random or serial")
	}
	sc := storeConfig{db: db}
	kind, _, err := sc.parseDB()
	if err != nil {
		return err
	}
	if maxDev == 0 {
		// Enough for 10 s at SQLite's rate without the pool running dry
		// (which would end the run early): each device gives one or two
		// checks per 30 s step.
		maxDev = 400_000
		if kind == "postgres" {
			maxDev = 100_000
		}
	}
	if procs > 0 && kind != "postgres" {
		return &UsageError{Err: errors.New("--processes needs --db postgres://…"), Hint: "several processes share one database only on PostgreSQL"}
	}
	progress := func(format string, a ...any) {
		if !asJSON {
			fmt.Fprintf(env.Stderr, format+"\n", a...)
		}
	}

	if kind == "postgres" {
		// A schema of the run's own: the database may hold a verifier
		// already, or an earlier run; neither is touched.
		dsn, drop, err := postgres.TempSchema(ctx, db, "tokenlab_bench_")
		if err != nil {
			return err
		}
		defer drop()
		db, sc.db = dsn, dsn
	}

	tmp, err := os.MkdirTemp("", "tokenlab-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	sc.dataDir = tmp

	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conc * 2, MaxIdleConnsPerHost: conc, IdleConnTimeout: time.Minute,
		DisableCompression: true,
		DialContext:        (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
	defer hc.CloseIdleConnections()

	// The bare handler: the same decoding and encoding, no verifier.
	bareURL, stopBare, err := serveLocal(bareHandler())
	if err != nil {
		return err
	}
	defer stopBare()

	// The verifier in this process: it enrolls the devices, and serves the
	// checks unless child processes do.
	store, sealer, err := openStore(ctx, sc)
	if err != nil {
		return err
	}
	defer store.Close()
	svc := verify.New(store, sealer, verify.Config{})
	tokPath, _, err := ensureAdminToken(ctx, svc, tmp)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(tokPath)
	if err != nil {
		return err
	}
	token := strings.TrimSpace(string(b))
	var urls []string
	if procs == 0 {
		u, stop, err := serveLocal(newMux(svc, slog.New(slog.DiscardHandler), nil))
		if err != nil {
			return err
		}
		defer stop()
		urls = []string{u}
	} else {
		children, err := startChildren(ctx, procs, tmp, db)
		defer func() {
			for _, c := range children {
				c.stop()
			}
		}()
		if err != nil {
			return err
		}
		for _, c := range children {
			urls = append(urls, c.url)
		}
	}
	var clients []*client.Client
	for _, u := range urls {
		c, err := client.New(u, token, hc)
		if err != nil {
			return err
		}
		clients = append(clients, c)
	}
	// The bare handler gets the same requests as the verifier, bearer token
	// included, and the clients do the same work for them: the next device
	// of the pool and its code for now (only the probe, which sizes the
	// pool, runs on an empty one and sends a fixed request).
	bare, _ := client.New(bareURL, token, hc)
	pool := newDevPool(order == "random")

	bareOne := func(ctx context.Context, w int) (bool, int) {
		user, serial, code, ok := pool.look()
		if !ok {
			user, serial, code = "bench", "GAHT00000017", "123456"
		}
		d, err := bare.Check(ctx, user, serial, code)
		if err != nil {
			return true, -1
		}
		if d.Accepted {
			return true, 1
		}
		return true, 0
	}

	// A short run of the bare handler sizes the device pool.
	probe := drive(ctx, conc, min(dur, 2*time.Second), bareOne)
	if probe.errors > 0 {
		return fmt.Errorf("bench: %d errors from the bare handler", probe.errors)
	}
	if ndev == 0 {
		win := min(dur+warm, 30*time.Second)
		ndev = int(probe.rps() * win.Seconds() * 0.6)
		ndev = max(ndev, conc*16)
		ndev = min(ndev, maxDev)
	}
	progress("bench: enrolling %d hardware tokens for %d users", ndev, (ndev+verify.MaxDevicesPerUser-1)/verify.MaxDevicesPerUser)
	start := time.Now()
	enroller := verify.New(groupedStore{store}, sealer, verify.Config{})
	if err := pool.grow(ctx, enroller, conc, ndev); err != nil {
		return err
	}
	enrollTime := time.Since(start)

	verOne := func(ctx context.Context, w int) (bool, int) {
		user, serial, code, ok := pool.take()
		if !ok {
			return false, 0
		}
		dec, err := clients[w%len(clients)].Check(ctx, user, serial, code)
		if err != nil {
			return true, -1
		}
		if dec.Accepted {
			return true, 1
		}
		return true, 0
	}

	// The warm-up: the verifier only, unmeasured.
	if warm > 0 {
		progress("bench: warming the verifier up for %v", warm)
		if w := drive(ctx, conc, warm, verOne); w.errors > 0 {
			return fmt.Errorf("bench: %d errors from the verifier while warming up", w.errors)
		}
	}

	// The two phases alternate in slices, so that both see the same
	// background load on a shared machine.
	slice, _ := fs.GetDuration("slice")
	if slice <= 0 || slice > dur {
		slice = dur
	}
	progress("bench: verifier (%s%s) and bare handler alternating in %v slices, %d clients, %v each", kind, procDesc(procs), slice, conc, dur)
	var profile *os.File
	if prof, _ := fs.GetString("cpuprofile"); prof != "" {
		if profile, err = os.Create(prof); err != nil {
			return err
		}
		defer profile.Close()
	}
	var verRes, bareRes driveResult
	var work verify.StoreStats // the store's, during the verifier's slices
	var stepLogEnd, stepLogMax int64
	for done := time.Duration(0); done < dur && ctx.Err() == nil; {
		d := min(slice, dur-done)
		// The profile covers the verifier's first slice only (all of its
		// time with --slice 0), not the bare handler.
		if profile != nil && done == 0 {
			if err := pprof.StartCPUProfile(profile); err != nil {
				return err
			}
		}
		before, _ := svc.StoreStats()
		v := drive(ctx, conc, d, verOne)
		if profile != nil && done == 0 {
			pprof.StopCPUProfile()
		}
		if procs == 0 {
			after, _ := svc.StoreStats()
			work.Commits += after.Commits - before.Commits
			work.Operations += after.Operations - before.Operations
			work.Syncs += after.Syncs - before.Syncs
			work.SyncTime += after.SyncTime - before.SyncTime
			stepLogEnd, stepLogMax = after.StepLog, max(stepLogMax, after.StepLog)
		}
		verRes.add(v)
		if !v.dry {
			bareRes.add(drive(ctx, conc, d, bareOne))
			done += d
			continue
		}
		// The pool ran dry: the bare handler gets as long as the verifier
		// had, and then (unmeasured) more devices are enrolled for the rest.
		bareRes.add(drive(ctx, conc, max(v.elapsed, 100*time.Millisecond), bareOne))
		done += v.elapsed
		left := dur - done
		need := min(int(v.rps()*left.Seconds()*1.3)+conc*8, maxDev-len(pool.devs))
		if left < 100*time.Millisecond || need < conc*8 {
			break
		}
		progress("bench: enrolling %d more tokens", need)
		t0 := time.Now()
		if err := pool.grow(ctx, enroller, conc, need); err != nil {
			return err
		}
		enrollTime += time.Since(t0)
		verRes.dry = false
	}
	verRes.finish()
	bareRes.finish()
	if bareRes.errors > 0 {
		return fmt.Errorf("bench: %d errors from the bare handler", bareRes.errors)
	}

	res := benchResult{
		VerifyRPS: verRes.rps(), BareRPS: bareRes.rps(),
		P50ms: verRes.pct(0.50), P99ms: verRes.pct(0.99),
		BareP50ms: bareRes.pct(0.50), BareP99ms: bareRes.pct(0.99),
		BareCPUus: bareRes.cpuPerReq(),
		Accepted:  verRes.ok, Refused: verRes.refused, Errors: verRes.errors,
		VerifySecs: verRes.elapsed.Seconds(), BareSecs: bareRes.elapsed.Seconds(),
		WarmupSecs: warm.Seconds(),
		PoolDry:    verRes.dry, Devices: len(pool.devs), EnrollSecs: enrollTime.Seconds(),
		Concurrency: conc, DB: kind, Order: order, Processes: procs,
	}
	if res.BareRPS > 0 {
		res.Ratio = res.VerifyRPS / res.BareRPS
	}
	if procs == 0 {
		res.VerifyCPUus = verRes.cpuPerReq()
		res.StepLogEnd, res.StepLogMax = stepLogEnd, stepLogMax
		if work.Commits > 0 {
			res.ChecksPerCommit = float64(work.Operations) / float64(work.Commits)
		}
		if work.Syncs > 0 {
			res.CommitsPerFsync = float64(work.Commits) / float64(work.Syncs)
			res.FsyncMs = work.SyncTime.Seconds() * 1e3 / float64(work.Syncs)
		}
	}
	res.GoalRatioMet, res.GoalP99Met = res.Ratio >= 0.5, res.P99ms <= 20
	if asJSON {
		if err := printJSON(env.Stdout, res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(env.Stdout, "bare net/http:  %8.0f checks/s  p50 %6.2f ms  p99 %6.2f ms  (%.1f s)\n", res.BareRPS, res.BareP50ms, res.BareP99ms, res.BareSecs)
		fmt.Fprintf(env.Stdout, "verifier:       %8.0f checks/s  p50 %6.2f ms  p99 %6.2f ms  (%.1f s; %d accepted, %d refused, %d errors)\n", res.VerifyRPS, res.P50ms, res.P99ms, res.VerifySecs, res.Accepted, res.Refused, res.Errors)
		fmt.Fprintf(env.Stdout, "ratio:          %8.2f          (goal ≥ 0.50: %s; p99 goal ≤ 20 ms: %s)\n", res.Ratio, yesNo(res.GoalRatioMet), yesNo(res.GoalP99Met))
		if res.VerifyCPUus > 0 {
			fmt.Fprintf(env.Stdout, "cpu:            %8.0f µs/check, bare %.0f µs/request (this process)\n", res.VerifyCPUus, res.BareCPUus)
		}
		if res.ChecksPerCommit > 0 {
			fmt.Fprintf(env.Stdout, "store:          %8.1f checks per commit", res.ChecksPerCommit)
			if res.CommitsPerFsync > 0 {
				fmt.Fprintf(env.Stdout, ", %.1f commits per fsync, %.2f ms per fsync", res.CommitsPerFsync, res.FsyncMs)
			}
			fmt.Fprintln(env.Stdout)
		}
		if res.StepLogMax > 0 {
			fmt.Fprintf(env.Stdout, "step log:       %8d devices not yet swept into step_fold at the end, at most %d after a slice\n", res.StepLogEnd, res.StepLogMax)
		}
		fmt.Fprintf(env.Stdout, "setup:          %d devices enrolled in %.1f s, taken in %s order; %s%s, %d clients; %v of verifier load before measuring\n", res.Devices, res.EnrollSecs, order, kind, procDesc(procs), conc, warm)
		if res.PoolDry {
			fmt.Fprintf(env.Stdout, "note:           the device pool ran dry after %.1f s; the rates are over that time (raise --max-devices)\n", res.VerifySecs)
		}
	}
	if res.Errors > 0 || res.Refused > 0 {
		return fmt.Errorf("bench: %d checks refused and %d failed; every code sent was valid and fresh", res.Refused, res.Errors)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "met"
	}
	return "NOT met"
}

func procDesc(n int) string {
	if n == 0 {
		return ", in-process"
	}
	return fmt.Sprintf(", %d serve processes", n)
}

// bareHandler answers POST /api/v1/mfa/check like the API, without a
// verifier: strict decode, validation, a JSON decision.
func bareHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/mfa/check", func(w http.ResponseWriter, r *http.Request) {
		var req httpapi.CheckRequest
		err := httpapi.DecodeJSON(http.MaxBytesReader(w, r.Body, httpapi.MaxJSONBody), httpapi.MaxJSONBody, &req)
		if err == nil {
			err = httpapi.ValidCheck(req)
		}
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":{"code":"invalid","message":%q}}`+"\n", verifyMessage(err))
			return
		}
		b, _ := jsonMarshal(verify.Decision{Accepted: true, Step: 1})
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		w.Write(b)
	})
	return mux
}

// serveLocal serves h on 127.0.0.1 at a free port.
func serveLocal(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

type child struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

func (c *child) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

var childListenRE = regexp.MustCompile(`msg="tokenlab serve listening" url=(http://[0-9.:]+)`)

// startChildren starts n "tokenlab serve" processes on 127.0.0.1 sharing
// dataDir (one KEK, one admin token) and the database; the first one alone
// until it listens, since it creates the data directory's files.
func startChildren(ctx context.Context, n int, dataDir, db string) ([]*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var out []*child
	for i := 0; i < n; i++ {
		cmd := exec.Command(exe, "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--db", db, "--log-level", "info")
		pr, pw := io.Pipe()
		cmd.Stderr = pw
		cmd.Stdout = io.Discard
		if err := cmd.Start(); err != nil {
			return out, err
		}
		c := &child{cmd: cmd, done: make(chan struct{})}
		out = append(out, c)
		go func() { cmd.Wait(); pw.Close(); close(c.done) }()
		urlc := make(chan string, 1)
		go func() {
			var buf strings.Builder
			b := make([]byte, 4096)
			sent := false
			for {
				k, err := pr.Read(b)
				if !sent {
					buf.Write(b[:k])
					if m := childListenRE.FindStringSubmatch(buf.String()); m != nil {
						urlc <- m[1]
						sent = true
					}
				}
				if err != nil {
					if !sent {
						close(urlc)
					}
					return
				}
			}
		}()
		select {
		case u, ok := <-urlc:
			if !ok {
				return out, fmt.Errorf("bench: tokenlab serve child %d exited before listening", i+1)
			}
			c.url = u
		case <-time.After(30 * time.Second):
			return out, fmt.Errorf("bench: tokenlab serve child %d did not start listening", i+1)
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
	return out, nil
}

// benchDev is one enrolled device whose seed the bench knows. It holds no
// pointer: its user name and serial are a stretch of the pool's names and
// its seed one of the pool's seeds. The pool shares the process with the
// verifier it measures, and a pool of strings and seed slices, hundreds of
// thousands of small objects, would have the garbage collector visit every
// one of them in each cycle the verifier's allocations start: work a real
// server, whose clients live elsewhere, never does.
type benchDev struct {
	name        uint32 // offset of user ‖ serial in the pool's names
	nuser, nser uint8
	seed        uint32 // offset in the pool's seeds
	nseed       uint8
	last        uint64 // last accepted step
}

// devPool hands out (device, step) pairs, each once.
type devPool struct {
	prefix string // of serials and user names
	random bool   // devices in a random order, not by serial

	mu    sync.Mutex
	devs  []benchDev
	names string // every device's user name and serial, back to back
	seeds []byte // every device's seed, back to back
	next  int    // round-robin cursor
	peek  int    // look's round-robin cursor
	idle  int    // devices looked at since the last one handed out
	step  uint64 // cached current step
	at    time.Time
}

// newDev is a device on its way into the pool.
type newDev struct {
	user, serial string
	seed         token.Seed
	last         uint64
}

// add appends devices to the pool, or none of them if one does not fit
// its offsets. The caller holds p.mu, or no client uses the pool yet.
func (p *devPool) add(devs ...newDev) error {
	size := len(p.names)
	for _, d := range devs {
		if len(d.user) > 255 || len(d.serial) > 255 || len(d.seed) > 255 {
			return fmt.Errorf("bench: device %s: name or seed longer than the pool holds (255 bytes)", d.serial)
		}
		size += len(d.user) + len(d.serial)
	}
	if size > math.MaxUint32 || len(p.seeds)+len(devs)*255 > math.MaxUint32 {
		return errors.New("bench: the device pool is full")
	}
	names := []byte(p.names)
	for _, d := range devs {
		p.devs = append(p.devs, benchDev{
			name: uint32(len(names)), nuser: uint8(len(d.user)), nser: uint8(len(d.serial)),
			seed: uint32(len(p.seeds)), nseed: uint8(len(d.seed)),
			last: d.last,
		})
		names = append(append(names, d.user...), d.serial...)
		p.seeds = append(p.seeds, d.seed...)
	}
	p.names = string(names)
	return nil
}

// user, serial and seedOf return device d's user name, serial and seed,
// without copying them.
func (p *devPool) user(d *benchDev) string {
	return p.names[d.name : d.name+uint32(d.nuser)]
}

func (p *devPool) serial(d *benchDev) string {
	at := d.name + uint32(d.nuser)
	return p.names[at : at+uint32(d.nser)]
}

func (p *devPool) seedOf(d *benchDev) token.Seed {
	end := d.seed + uint32(d.nseed)
	return token.Seed(p.seeds[d.seed:end:end])
}

// stepNow is the current time step, read from the clock at most every
// 5 ms. The caller holds p.mu.
func (p *devPool) stepNow() uint64 {
	if now := time.Now(); now.Sub(p.at) > 5*time.Millisecond {
		p.step, p.at = token.DefaultSpec.Step(now), now
	}
	return p.step
}

// take returns a device's user name and serial and a fresh valid code,
// or false when no device has a usable step left until the next step
// begins.
func (p *devPool) take() (user, serial, code string, ok bool) {
	p.mu.Lock()
	cur := p.stepNow()
	for p.idle < len(p.devs) {
		d := &p.devs[p.next]
		p.next = (p.next + 1) % len(p.devs)
		s := max(cur, d.last+1)
		if s <= cur+1 {
			d.last = s
			p.idle = 0
			user, serial, seed := p.user(d), p.serial(d), p.seedOf(d)
			p.mu.Unlock()
			return user, serial, token.DefaultSpec.HOTP(seed, s), true
		}
		p.idle++
	}
	// Every device is used up for this step.
	p.idle = 0
	p.mu.Unlock()
	return "", "", "", false
}

// look is take for the bare handler: the next device in its own round,
// with the code of the current step, the same work as take without using
// the step up. It returns false when the pool is empty.
func (p *devPool) look() (user, serial, code string, ok bool) {
	p.mu.Lock()
	if len(p.devs) == 0 {
		p.mu.Unlock()
		return "", "", "", false
	}
	cur := p.stepNow()
	d := &p.devs[p.peek]
	p.peek = (p.peek + 1) % len(p.devs)
	user, serial, seed := p.user(d), p.serial(d), p.seedOf(d)
	p.mu.Unlock()
	return user, serial, token.DefaultSpec.HOTP(seed, cur), true
}

// newDevPool returns an empty pool whose serials and user names carry a
// random prefix, so runs on a reused database do not collide.
func newDevPool(random bool) *devPool {
	var rnd [4]byte
	rand.Read(rnd[:])
	prefix := make([]byte, 4)
	for i, b := range rnd {
		prefix[i] = 'A' + b%26
	}
	return &devPool{prefix: string(prefix), random: random}
}

// grow imports n more hardware tokens (rounded up to whole users of 8)
// with fresh seeds, creates their users and enables every token, through v
// in this process, and adds them to the pool. It must not run while
// clients take from the pool.
func (p *devPool) grow(ctx context.Context, v verify.Verifier, conc, n int) error {
	ctx = verify.WithActor(ctx, verify.Actor{Name: "tokenlab bench", Source: "cli"})
	per := verify.MaxDevicesPerUser
	n = (n + per - 1) / per * per
	base := len(p.devs)
	more := make([]newDev, n)
	recs := make([]verify.TokenRecord, 0, 10000)
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		_, err := v.ImportTokens(ctx, verify.TokenList(recs...))
		recs = recs[:0]
		return err
	}
	for i := range more {
		serial, err := token.NewSerial(p.prefix, uint64(base+i))
		if err != nil {
			return err
		}
		seed, err := token.GenerateSeed(rand.Reader, token.SHA1)
		if err != nil {
			return err
		}
		more[i] = newDev{user: fmt.Sprintf("bench-%s-%d", strings.ToLower(p.prefix), (base+i)/per), serial: string(serial), seed: seed}
		recs = append(recs, verify.TokenRecord{Serial: serial, Spec: token.DefaultSpec, Seed: seed})
		if len(recs) == cap(recs) {
			if err := flush(); err != nil {
				return fmt.Errorf("bench: import: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("bench: import: %w", err)
	}
	if err := parallel(ctx, conc, n/per, func(w, u int) error {
		_, err := v.CreateUser(ctx, more[u*per].user, verify.UserOptions{})
		return err
	}); err != nil {
		return fmt.Errorf("bench: create users: %w", err)
	}
	if err := parallel(ctx, conc, n, func(w, i int) error {
		d := &more[i]
		var err error
		for try := 0; try < 2; try++ {
			T := token.DefaultSpec.Step(time.Now())
			err = v.Enable(ctx, d.user, d.serial, token.DefaultSpec.HOTP(d.seed, T-1), token.DefaultSpec.HOTP(d.seed, T))
			if err == nil {
				d.last = T
				return nil
			}
			if verify.CodeOf(err) != verify.ECODE {
				break
			}
		}
		return err
	}); err != nil {
		return fmt.Errorf("bench: enable: %w", err)
	}
	if p.random {
		mrand.Shuffle(len(more), func(i, j int) { more[i], more[j] = more[j], more[i] })
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.add(more...)
}

// parallel runs fn(worker, i) for i in [0, n) on conc workers and returns
// the first error.
func parallel(ctx context.Context, conc, n int, fn func(w, i int) error) error {
	var next atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for first.Load() == nil && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(w, i); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return err
	}
	return ctx.Err()
}

// driveResult is what one load phase measured.
type driveResult struct {
	ok, refused, errors int64
	elapsed             time.Duration
	cpu                 time.Duration // this process's user + system time
	lat                 []time.Duration
	dry                 bool
}

// cpuPerReq is the process CPU time per request, in microseconds.
func (r driveResult) cpuPerReq() float64 {
	n := r.ok + r.refused + r.errors
	if n == 0 {
		return 0
	}
	return float64(r.cpu.Microseconds()) / float64(n)
}

// processCPU returns this process's user + system time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// add merges another slice's result into r.
func (r *driveResult) add(o driveResult) {
	r.ok += o.ok
	r.refused += o.refused
	r.errors += o.errors
	r.elapsed += o.elapsed
	r.cpu += o.cpu
	r.lat = append(r.lat, o.lat...)
	r.dry = r.dry || o.dry
}

// finish sorts the latencies for pct.
func (r *driveResult) finish() { slices.Sort(r.lat) }

func (r driveResult) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok+r.refused+r.errors) / r.elapsed.Seconds()
}

// pct returns the q-quantile of latency in milliseconds.
func (r driveResult) pct(q float64) float64 {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(r.lat)))) - 1
	i = min(max(i, 0), len(r.lat)-1)
	return float64(r.lat[i]) / float64(time.Millisecond)
}

// drive runs one(ctx, worker) from conc workers for dur. one returns false
// when it has no work left (the phase then ends), and an outcome: 1 ok,
// 0 refused, -1 error.
func drive(ctx context.Context, conc int, dur time.Duration, one func(ctx context.Context, w int) (bool, int)) driveResult {
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var ok, refused, errs atomic.Int64
	var dry atomic.Bool
	lats := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	start, cpu0 := time.Now(), processCPU()
	var lastEnd atomic.Int64
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, 1<<14)
			for ctx.Err() == nil {
				t0 := time.Now()
				more, out := one(ctx, w)
				if !more {
					dry.Store(true) // the others stop too as they find no work
					break
				}
				d := time.Since(t0)
				if ctx.Err() != nil && out < 0 {
					break // cut off by the end of the phase
				}
				switch out {
				case 1:
					ok.Add(1)
				case 0:
					refused.Add(1)
				default:
					errs.Add(1)
				}
				l = append(l, d)
				if e := int64(time.Since(start)); e > lastEnd.Load() {
					lastEnd.Store(e)
				}
			}
			lats[w] = l
		}()
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	el := time.Since(start)
	if dry.Load() {
		el = time.Duration(lastEnd.Load())
	}
	return driveResult{ok: ok.Load(), refused: refused.Load(), errors: errs.Load(), elapsed: el, cpu: processCPU() - cpu0, lat: all, dry: dry.Load()}
}

func jsonMarshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(b, '\n'), err
}

// groupedStore sends every write of the bench's enrollment through the
// store's group commit (Batch) instead of one transaction each (Update):
// enrollment is set-up, and thousands of enables one fsync at a time would
// take minutes. Durability is the same: each batch is committed and synced
// before its callers return. Batch may run a function more than once;
// the verifier's update functions allow that.
type groupedStore struct{ closingStore }

func (g groupedStore) Update(ctx context.Context, fn func(verify.Tx) error) error {
	return g.Batch(ctx, fn)
}
