package httpapi

import (
	"bufio"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenlab/tokenlab/verify"
)

// buckets are the upper bounds, in seconds, of the latency histogram.
var buckets = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// Metrics counts what the API does, for GET /metrics in the Prometheus text
// exposition format (version 0.0.4), written by hand to keep the module's
// dependencies as they are. The zero value is not usable; see [NewMetrics].
type Metrics struct {
	inFlight atomic.Int64
	panics   atomic.Int64

	mu     sync.Mutex
	routes map[string]*routeStats
	// decisions counts check outcomes: "accepted" or "refused/REASON".
	decisions map[string]*atomic.Int64
	// query counts the IAM/STS Query endpoint's requests (package iamapi).
	query map[queryKey]*queryStats
	// store reports the counts of the verifier's store, if it keeps any.
	store func() (verify.StoreStats, bool)
}

// StoreStatsReporter is a [verify.Verifier] that reports the counts of its
// store's work ([verify.Service] does); New has the metrics include them.
type StoreStatsReporter interface {
	StoreStats() (verify.StoreStats, bool)
}

// ObserveStore has the metrics include the counts f returns of a store's
// work (group commits, fsyncs, SQLite's checkpoints).
func (m *Metrics) ObserveStore(f func() (verify.StoreStats, bool)) {
	m.mu.Lock()
	m.store = f
	m.mu.Unlock()
}

type queryKey struct{ service, action string }

type queryStats struct {
	latency  histogram
	mu       sync.Mutex
	outcomes map[string]int64
}

type routeStats struct {
	latency histogram
	mu      sync.Mutex
	codes   map[int]int64
}

// histogram is a latency histogram over buckets.
type histogram struct {
	buckets [len(buckets)]atomic.Int64
	count   atomic.Int64
	sumNs   atomic.Int64
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	for i, b := range buckets {
		if s <= b {
			h.buckets[i].Add(1)
		}
	}
	h.count.Add(1)
	h.sumNs.Add(int64(d))
}

// write writes h as the series of histogram name with labels (`k="v",…`).
func (h *histogram) write(w *bufio.Writer, name, labels string) {
	for i, b := range buckets {
		fmt.Fprintf(w, "%s_bucket{%s,le=%q} %d\n", name, labels, strconv.FormatFloat(b, 'g', -1, 64), h.buckets[i].Load())
	}
	cnt := h.count.Load()
	fmt.Fprintf(w, "%s_bucket{%s,le=\"+Inf\"} %d\n", name, labels, cnt)
	fmt.Fprintf(w, "%s_sum{%s} %s\n", name, labels, strconv.FormatFloat(time.Duration(h.sumNs.Load()).Seconds(), 'g', -1, 64))
	fmt.Fprintf(w, "%s_count{%s} %d\n", name, labels, cnt)
}

// NewMetrics returns empty metrics.
func NewMetrics() *Metrics {
	return &Metrics{routes: map[string]*routeStats{}, decisions: map[string]*atomic.Int64{}, query: map[queryKey]*queryStats{}}
}

// QueryRequest counts one request to the IAM/STS Query endpoint: its
// service ("iam" or "sts"), action (empty if it was refused before its
// action was known), outcome ("ok" or the AWS error code answered) and
// latency. It fits iamapi.Config.Observe.
func (m *Metrics) QueryRequest(service, action, outcome string, d time.Duration) {
	k := queryKey{service, action}
	m.mu.Lock()
	qs := m.query[k]
	if qs == nil {
		qs = &queryStats{outcomes: map[string]int64{}}
		m.query[k] = qs
	}
	m.mu.Unlock()
	qs.latency.observe(d)
	qs.mu.Lock()
	qs.outcomes[outcome]++
	qs.mu.Unlock()
}

func (m *Metrics) route(name string) *routeStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	rs := m.routes[name]
	if rs == nil {
		rs = &routeStats{codes: map[int]int64{}}
		m.routes[name] = rs
	}
	return rs
}

func (rs *routeStats) observe(d time.Duration, status int) {
	rs.latency.observe(d)
	rs.mu.Lock()
	rs.codes[status]++
	rs.mu.Unlock()
}

// Decision counts one check outcome.
func (m *Metrics) Decision(d verify.Decision) {
	key := "accepted"
	if !d.Accepted {
		key = "refused/" + string(d.Reason)
	}
	m.mu.Lock()
	c := m.decisions[key]
	if c == nil {
		c = new(atomic.Int64)
		m.decisions[key] = c
	}
	m.mu.Unlock()
	c.Add(1)
}

// Panics returns how many requests ended in a recovered panic.
func (m *Metrics) Panics() int64 { return m.panics.Load() }

// ServeHTTP writes the metrics.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	bw := bufio.NewWriter(w)
	m.WriteTo(bw)
	bw.Flush()
}

// WriteTo writes the metrics in the text exposition format.
func (m *Metrics) WriteTo(w *bufio.Writer) {
	m.mu.Lock()
	names := make([]string, 0, len(m.routes))
	for n := range m.routes {
		names = append(names, n)
	}
	dkeys := make([]string, 0, len(m.decisions))
	for k := range m.decisions {
		dkeys = append(dkeys, k)
	}
	qkeys := make([]queryKey, 0, len(m.query))
	qstats := make([]*queryStats, 0, len(m.query))
	for k := range m.query {
		qkeys = append(qkeys, k)
	}
	store := m.store
	sort.Slice(qkeys, func(i, j int) bool {
		if qkeys[i].service != qkeys[j].service {
			return qkeys[i].service < qkeys[j].service
		}
		return qkeys[i].action < qkeys[j].action
	})
	for _, k := range qkeys {
		qstats = append(qstats, m.query[k])
	}
	m.mu.Unlock()
	sort.Strings(names)
	sort.Strings(dkeys)

	fmt.Fprintln(w, "# HELP tokenlab_http_in_flight Requests being served.")
	fmt.Fprintln(w, "# TYPE tokenlab_http_in_flight gauge")
	fmt.Fprintf(w, "tokenlab_http_in_flight %d\n", m.inFlight.Load())
	fmt.Fprintln(w, "# HELP tokenlab_http_panics_total Requests that ended in a recovered panic.")
	fmt.Fprintln(w, "# TYPE tokenlab_http_panics_total counter")
	fmt.Fprintf(w, "tokenlab_http_panics_total %d\n", m.panics.Load())

	fmt.Fprintln(w, "# HELP tokenlab_http_requests_total Requests answered, by route and status.")
	fmt.Fprintln(w, "# TYPE tokenlab_http_requests_total counter")
	for _, n := range names {
		rs := m.route(n)
		rs.mu.Lock()
		codes := make([]int, 0, len(rs.codes))
		for c := range rs.codes {
			codes = append(codes, c)
		}
		sort.Ints(codes)
		for _, c := range codes {
			fmt.Fprintf(w, "tokenlab_http_requests_total{route=%q,code=\"%d\"} %d\n", n, c, rs.codes[c])
		}
		rs.mu.Unlock()
	}

	fmt.Fprintln(w, "# HELP tokenlab_http_request_duration_seconds Request latency, by route.")
	fmt.Fprintln(w, "# TYPE tokenlab_http_request_duration_seconds histogram")
	for _, n := range names {
		m.route(n).latency.write(w, "tokenlab_http_request_duration_seconds", fmt.Sprintf("route=%q", n))
	}

	fmt.Fprintln(w, "# HELP tokenlab_verify_decisions_total Code checks, by outcome and refusal reason.")
	fmt.Fprintln(w, "# TYPE tokenlab_verify_decisions_total counter")
	for _, k := range dkeys {
		m.mu.Lock()
		v := m.decisions[k].Load()
		m.mu.Unlock()
		outcome, reason := k, ""
		if len(k) > 8 && k[:8] == "refused/" {
			outcome, reason = "refused", k[8:]
		}
		fmt.Fprintf(w, "tokenlab_verify_decisions_total{outcome=%q,reason=%q} %d\n", outcome, reason, v)
	}

	fmt.Fprintln(w, "# HELP tokenlab_iam_requests_total IAM/STS Query API requests answered, by service, action and outcome (ok or the AWS error code).")
	fmt.Fprintln(w, "# TYPE tokenlab_iam_requests_total counter")
	for i, k := range qkeys {
		qs := qstats[i]
		qs.mu.Lock()
		outcomes := make([]string, 0, len(qs.outcomes))
		for o := range qs.outcomes {
			outcomes = append(outcomes, o)
		}
		sort.Strings(outcomes)
		for _, o := range outcomes {
			fmt.Fprintf(w, "tokenlab_iam_requests_total{service=%q,action=%q,outcome=%q} %d\n", k.service, k.action, o, qs.outcomes[o])
		}
		qs.mu.Unlock()
	}
	fmt.Fprintln(w, "# HELP tokenlab_iam_request_duration_seconds IAM/STS Query API latency, by service and action.")
	fmt.Fprintln(w, "# TYPE tokenlab_iam_request_duration_seconds histogram")
	for i, k := range qkeys {
		qstats[i].latency.write(w, "tokenlab_iam_request_duration_seconds", fmt.Sprintf("service=%q,action=%q", k.service, k.action))
	}

	if store != nil {
		if st, ok := store(); ok {
			writeStore(w, st)
		}
	}
}

// writeStore writes the counts of the store's work.
func writeStore(w *bufio.Writer, st verify.StoreStats) {
	series := []struct {
		name, kind, help string
		v                string
	}{
		{"tokenlab_store_commits_total", "counter", "Group commits of the store.", strconv.FormatInt(st.Commits, 10)},
		{"tokenlab_store_operations_total", "counter", "Operations committed in them (per commit: the mean batch size).", strconv.FormatInt(st.Operations, 10)},
		{"tokenlab_store_fsyncs_total", "counter", "fsyncs that made committed batches durable (SQLite; PostgreSQL syncs on its server).", strconv.FormatInt(st.Syncs, 10)},
		{"tokenlab_store_fsync_seconds_total", "counter", "Time spent in those fsyncs.", strconv.FormatFloat(st.SyncTime.Seconds(), 'g', -1, 64)},
		{"tokenlab_sqlite_checkpoints_total", "counter", "Background passes copying the write-ahead log into the database.", strconv.FormatInt(st.Checkpoints, 10)},
		{"tokenlab_sqlite_wal_frames", "gauge", "Frames (pages) in the write-ahead log after the last pass.", strconv.FormatInt(st.WALFrames, 10)},
		{"tokenlab_sqlite_wal_checkpointed_frames", "gauge", "Of those, the frames already copied into the database.", strconv.FormatInt(st.WALCheckpointed, 10)},
		{"tokenlab_sqlite_step_log_devices", "gauge", "Devices whose last accepted step is in the step log, not yet swept into step_fold.", strconv.FormatInt(st.StepLog, 10)},
		{"tokenlab_sqlite_device_cache_devices", "gauge", "Devices whose check columns the SQLite writer holds in memory.", strconv.FormatInt(st.DeviceCache, 10)},
	}
	for _, s := range series {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", s.name, s.help, s.name, s.kind, s.name, s.v)
	}
}
