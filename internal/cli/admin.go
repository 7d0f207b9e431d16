package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/seal"
)

func init() {
	register(&group{
		name:    "admin",
		summary: "offline maintenance of a verifier's data directory",
		verbs: map[string]*command{
			"rotate-kek": {
				usage: "admin rotate-kek [--data-dir ./tokenlab-data] [--db sqlite:PATH|postgres://…] [--kek-file F] [--keep-old]",
				summary: "Rotate the key-encryption key, offline: add a fresh key to the KEK file, re-seal every seed and secret under it in one transaction, then retire the old keys. " +
					"Stop every 'tokenlab serve' using this database first (a server on the same data directory is detected); servers started afterwards read the new key.",
				example: "  tokenlab admin rotate-kek --data-dir ./tokenlab-data",
				flags: func(fs *pflag.FlagSet) {
					fs.String("data-dir", "./"+defaultDataDir, "data directory")
					fs.String("db", "", "database: sqlite:PATH or postgres://… (default: sqlite:DATA-DIR/tokenlab.db)")
					fs.String("kek-file", "", "key-encryption key file (default DATA-DIR/kek)")
					fs.Bool("keep-old", false, "keep the old keys in the KEK file (retire them later by rotating again)")
					fs.Bool("json", false, "print the result as JSON")
				},
				run: runRotateKEK,
			},
		},
	})
}

type rotateResult struct {
	Resealed int      `json:"resealed"`
	Current  string   `json:"current_key"`
	Keys     []string `json:"keys"`
}

func runRotateKEK(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usagef("admin rotate-kek: unexpected argument %q", args[0])
	}
	sc := storeConfig{}
	sc.dataDir, _ = fs.GetString("data-dir")
	sc.db, _ = fs.GetString("db")
	sc.kekFile, _ = fs.GetString("kek-file")
	keep, _ := fs.GetBool("keep-old")
	if _, _, err := sc.parseDB(); err != nil {
		return err
	}
	release, err := lockDataDir(sc.dataDir, true)
	if err != nil {
		return err
	}
	defer release()
	if _, err := seal.Load(sc.kekPath()); err != nil {
		return &HintError{Err: err, Hint: "rotate-kek works on an existing data directory; start 'tokenlab serve' once to create it"}
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc, closeStore, err := openService(ctx, sc, log)
	if err != nil {
		return err
	}
	defer closeStore()
	// The new sealer holds the old keys too (it opens every row) and seals
	// with the fresh one.
	next, err := seal.AddKey(sc.kekPath())
	if err != nil {
		return err
	}
	ctx = verify.WithActor(ctx, verify.Actor{Name: "tokenlab admin", Source: "cli"})
	n, err := svc.RotateKEK(ctx, next)
	if err != nil {
		return &HintError{Err: err, Hint: "the KEK file keeps every key, so nothing is lost; run rotate-kek again"}
	}
	final := next
	if !keep {
		if final, err = seal.RetireKeys(sc.kekPath()); err != nil {
			return err
		}
	}
	res := rotateResult{Resealed: n, Current: final.Current(), Keys: final.KeyIDs()}
	if j, _ := fs.GetBool("json"); j {
		return printJSON(env.Stdout, res)
	}
	fmt.Fprintf(env.Stdout, "re-sealed %d secrets under key %s; the KEK file holds %d key(s)\n", n, res.Current, len(res.Keys))
	return nil
}
