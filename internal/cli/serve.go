package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/httpapi"
	"github.com/tokenlab/tokenlab/verify/iamapi"
	"github.com/tokenlab/tokenlab/verify/postgres"
	"github.com/tokenlab/tokenlab/verify/seal"
	"github.com/tokenlab/tokenlab/verify/sqlite"
)

// The data directory of tokenlab serve.
const (
	defaultDataDir = "tokenlab-data"
	dbFile         = "tokenlab.db"
	kekFile        = "kek"
	adminTokenFile = "admin.token"
	// lockFile is held shared by every running server and exclusively by
	// offline maintenance (admin rotate-kek), so neither runs under the other.
	lockFile = "serve.lock"
	// adminTokenName is the name of the first administrator's API token.
	adminTokenName = "admin"
)

func init() {
	register(&group{
		name:    "serve",
		summary: "run the verifier: JSON API, IAM/STS endpoint, web console, metrics",
		verbs: map[string]*command{"": {
			usage:   "serve [--listen 127.0.0.1:8080] [--data-dir ./tokenlab-data] [--db sqlite:PATH|postgres://…] [--kek-file F]",
			summary: "Run the verifier until interrupted. The data directory holds the SQLite database (unless --db names PostgreSQL), the key-encryption key and, after the first start, admin.token (the first administrator's bearer token) and aws-credentials (an IAM access key for the AWS CLI).",
			example: "  tokenlab serve\n" +
				"  tokenlab serve --listen 127.0.0.1:9000 --data-dir /var/lib/tokenlab\n" +
				"  tokenlab serve --db postgres://tokenlab@127.0.0.1/tokenlab --kek-file /etc/tokenlab/kek\n" +
				"  curl -H \"Authorization: Bearer $(cat tokenlab-data/admin.token)\" http://127.0.0.1:8080/api/v1/users",
			flags: func(fs *pflag.FlagSet) {
				fs.String("listen", "127.0.0.1:8080", "address to listen on")
				fs.String("data-dir", "./"+defaultDataDir, "data directory")
				fs.String("db", "", "database: sqlite:PATH or postgres://… (default: sqlite:DATA-DIR/tokenlab.db)")
				fs.String("kek-file", "", "key-encryption key file (default DATA-DIR/kek, created 0600)")
				fs.Duration("shutdown-timeout", 10*time.Second, "how long to let requests finish on shutdown")
				fs.String("log-level", "info", "debug, info, warn or error")
			},
			run: runServe,
		}},
	})
}

// storeConfig says where a verifier keeps its state.
type storeConfig struct {
	dataDir string
	db      string // "" | sqlite:PATH | postgres://…
	kekFile string
}

// parseDB returns the kind ("sqlite" or "postgres") and the path or DSN.
func (c storeConfig) parseDB() (kind, target string, err error) {
	switch {
	case c.db == "":
		return "sqlite", filepath.Join(c.dataDir, dbFile), nil
	case strings.HasPrefix(c.db, "sqlite:"):
		p := strings.TrimPrefix(c.db, "sqlite:")
		if p == "" {
			return "", "", usagef("--db sqlite: needs a path, as in sqlite:%s", filepath.Join(c.dataDir, dbFile))
		}
		return "sqlite", p, nil
	case strings.HasPrefix(c.db, "postgres://"), strings.HasPrefix(c.db, "postgresql://"):
		return "postgres", c.db, nil
	}
	return "", "", &UsageError{Err: fmt.Errorf("--db %q: want sqlite:PATH or postgres://…", redactDSN(c.db)), Hint: "leave --db out for the embedded SQLite database in the data directory"}
}

func (c storeConfig) kekPath() string {
	if c.kekFile != "" {
		return c.kekFile
	}
	return filepath.Join(c.dataDir, kekFile)
}

// redactDSN hides a password in a DSN for messages and logs.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if user, _, ok := strings.Cut(rest[:at], ":"); ok {
				return dsn[:i+3] + user + ":***" + rest[at:]
			}
		}
	}
	return dsn
}

// closingStore is a verify.Store that must be closed.
type closingStore interface {
	verify.Store
	Close() error
}

// openStore opens the KEK (creating it on first start) and the store.
func openStore(ctx context.Context, c storeConfig) (closingStore, *seal.Sealer, error) {
	kind, target, err := c.parseDB()
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return nil, nil, err
	}
	sealer, err := seal.LoadOrCreateKEK(c.kekPath())
	if err != nil {
		return nil, nil, err
	}
	var store closingStore
	switch kind {
	case "sqlite":
		store, err = sqlite.Open(target)
	default:
		store, err = postgres.Open(ctx, target)
	}
	if err != nil {
		return nil, nil, err
	}
	return store, sealer, nil
}

// openService opens the store and the KEK and returns the verifier and a
// function that closes the store.
func openService(ctx context.Context, c storeConfig, log *slog.Logger) (*verify.Service, func() error, error) {
	store, sealer, err := openStore(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	svc := verify.New(store, sealer, verify.Config{Logger: log})
	return svc, store.Close, nil
}

// ensureAdminToken makes sure DATA-DIR/admin.token holds a bearer token
// the verifier accepts, creating one (file mode 0600) on first start. It
// returns the file's path; the token itself is never logged.
func ensureAdminToken(ctx context.Context, v verify.Verifier, dataDir string) (path string, created bool, err error) {
	path = filepath.Join(dataDir, adminTokenFile)
	ctx = verify.WithActor(ctx, verify.Actor{Name: "tokenlab serve", Source: "cli"})
	if b, err := os.ReadFile(path); err == nil {
		if _, err := v.CheckAPIToken(ctx, strings.TrimSpace(string(b))); err == nil {
			return path, false, os.Chmod(path, 0o600)
		} else if verify.CodeOf(err) != verify.EUNAUTHORIZED {
			return path, false, err
		}
		// A token this database does not know (a new database in an old
		// data directory): replace it.
	} else if !errors.Is(err, fs.ErrNotExist) {
		return path, false, err
	}
	tok, err := v.CreateAPIToken(ctx, adminTokenName)
	if err != nil {
		return path, false, err
	}
	tmp, err := os.CreateTemp(dataDir, ".admin.token-*")
	if err != nil {
		return path, false, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return path, false, err
	}
	if _, err := io.WriteString(tmp, tok+"\n"); err != nil {
		tmp.Close()
		return path, false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return path, false, err
	}
	if err := tmp.Close(); err != nil {
		return path, false, err
	}
	return path, true, os.Rename(tmp.Name(), path)
}

// lockDataDir takes the data directory's lock file: shared for a server,
// exclusive (failing at once if a server holds it) for offline maintenance.
func lockDataDir(dataDir string, exclusive bool) (release func(), err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dataDir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX | syscall.LOCK_NB
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &HintError{Err: fmt.Errorf("a tokenlab server is running on %s", dataDir), Hint: "stop it first (this command works offline)"}
		}
		return nil, err
	}
	return func() { f.Close() }, nil
}

// newMux assembles the server's routes.
func newMux(v verify.Verifier, log *slog.Logger, metrics *httpapi.Metrics) http.Handler {
	api := httpapi.New(v, httpapi.Config{Logger: log, Metrics: metrics})
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("/healthz", api.Health())
	mux.Handle("GET /metrics", api.Metrics())
	// IAM/STS Query API (aws --endpoint-url http://HOST:PORT): form posts to "/".
	mux.Handle("POST /{$}", iamapi.New(v, iamapi.Config{Log: log, Observe: api.Metrics().QueryRequest}))
	// The web console (FIDO key registration, MFA devices); "/" leads to it.
	mux.Handle("/console/", newConsole(v, log))
	mux.Handle("GET /{$}", http.RedirectHandler("/console/", http.StatusFound))
	return mux
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func runServe(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usagef("serve: unexpected argument %q", args[0])
	}
	listen, _ := fs.GetString("listen")
	sc := storeConfig{}
	sc.dataDir, _ = fs.GetString("data-dir")
	sc.db, _ = fs.GetString("db")
	sc.kekFile, _ = fs.GetString("kek-file")
	grace, _ := fs.GetDuration("shutdown-timeout")
	level, _ := fs.GetString("log-level")
	log, err := newLogger(env.Stderr, level)
	if err != nil {
		return err
	}
	if _, _, err := sc.parseDB(); err != nil {
		return err
	}
	release, err := lockDataDir(sc.dataDir, false)
	if err != nil {
		return err
	}
	defer release()

	svc, closeStore, err := openService(ctx, sc, log)
	if err != nil {
		return err
	}
	defer closeStore()
	kind, target, _ := sc.parseDB()
	if kind == "postgres" {
		target = redactDSN(target)
	}
	tokPath, created, err := ensureAdminToken(ctx, svc, sc.dataDir)
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	if created {
		log.Info("created the first administrator's API token", "path", tokPath)
	} else {
		log.Info("administrator API token", "path", tokPath)
	}
	if err := iamapi.Bootstrap(ctx, svc, sc.dataDir); err != nil {
		return err
	}
	log.Info("IAM credentials for the AWS CLI", "path", filepath.Join(sc.dataDir, iamapi.CredentialsFile), "profile", iamapi.Profile)

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return &HintError{Err: err, Hint: "pick another address with --listen"}
	}
	srv := &http.Server{
		Handler:           newMux(svc, log, nil),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if !loopback("http://" + ln.Addr().String()) {
		log.Warn("listening beyond this machine without TLS: bearer tokens and the one-time seeds of new virtual devices cross the network in the clear; put a TLS proxy in front", "addr", ln.Addr().String())
	}
	log.Info("tokenlab serve listening", "url", "http://"+ln.Addr().String(), "db", kind, "target", target, "kek", sc.kekPath(), "version", Version())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", grace)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown timed out; closing connections", "err", err)
		srv.Close()
	}
	<-errc
	log.Info("stopped")
	return nil
}
