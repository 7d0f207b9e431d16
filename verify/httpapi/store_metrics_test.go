package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/httpapi"
)

// statsFake is the fake verifier with a store that reports its counts,
// as verify.Service does.
type statsFake struct {
	*fake
	stats verify.StoreStats
	ok    bool
}

func (f *statsFake) StoreStats() (verify.StoreStats, bool) { return f.stats, f.ok }

// The metrics carry the store's counts when the verifier reports them,
// and no store series when its store keeps none.
func TestStoreMetrics(t *testing.T) {
	f := &statsFake{fake: newFake(), ok: true, stats: verify.StoreStats{
		Commits: 12, Operations: 150, Syncs: 9, SyncTime: 4500 * time.Microsecond,
		Checkpoints: 3, WALFrames: 800, WALCheckpointed: 640, StepLog: 4321, DeviceCache: 98765,
	}}
	srv := httpapi.New(f, httpapi.Config{})
	mux := http.NewServeMux()
	mux.Handle("/metrics", srv.Metrics())
	body := do(t, mux, call{method: "GET", path: "/metrics", token: "-"}).Body.String()
	for _, want := range []string{
		"# TYPE tokenlab_store_commits_total counter\ntokenlab_store_commits_total 12\n",
		"tokenlab_store_operations_total 150\n",
		"tokenlab_store_fsyncs_total 9\n",
		"tokenlab_store_fsync_seconds_total 0.0045\n",
		"tokenlab_sqlite_checkpoints_total 3\n",
		"# TYPE tokenlab_sqlite_wal_frames gauge\ntokenlab_sqlite_wal_frames 800\n",
		"tokenlab_sqlite_wal_checkpointed_frames 640\n",
		"# TYPE tokenlab_sqlite_step_log_devices gauge\ntokenlab_sqlite_step_log_devices 4321\n",
		"# TYPE tokenlab_sqlite_device_cache_devices gauge\ntokenlab_sqlite_device_cache_devices 98765\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}

	f.ok = false
	body = do(t, mux, call{method: "GET", path: "/metrics", token: "-"}).Body.String()
	if strings.Contains(body, "tokenlab_store_") || strings.Contains(body, "tokenlab_sqlite_") {
		t.Errorf("store series without a store that counts:\n%s", body)
	}
	if !strings.Contains(body, "tokenlab_http_in_flight") {
		t.Errorf("metrics lost the rest:\n%s", body)
	}
}
