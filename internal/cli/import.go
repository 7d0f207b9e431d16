package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"

	"github.com/spf13/pflag"

	"github.com/tokenlab/tokenlab/provision"
	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
)

// provisionImport is "tokenlab provision import": it reads a seed file
// with the provision package's reader, checks every record, and only then
// sends them all in one request to the verifier, which checks them again
// and imports all or none. The seeds travel to the server only: nothing is
// printed or logged but serials and counts.
func provisionImport() *command {
	return &command{
		usage:   "provision import FILE [--server URL] [--psk-file F | --passphrase-file F] [--format F] [--json]",
		summary: "Import a seed file (PSKC or CSV) of hardware TOTP tokens into a verifier's inventory. The whole file is read and checked first: a bad record anywhere imports nothing.",
		example: "  tokenlab provision import batch-0042.pskc --psk-file batch.key --server http://127.0.0.1:8080",
		flags: func(fs *pflag.FlagSet) {
			keyFileFlags(fs)
			fs.String("format", "", "pskc, csv, oath-csv or entra-csv (default: detected)")
			fs.Bool("allow-http", false, "send seeds over plain HTTP to a host that is not loopback")
			fs.Bool("json", false, "print the result as JSON")
			clientFlags(fs)
		},
		run: runProvisionImport,
	}
}

// attachProvisionImport adds the import verb to the provision group, which
// the provisioning commands register; it is called from an init function
// of a file that sorts after provision.go (init functions run in file-name
// order), and registers the group itself if no provision commands exist.
func attachProvisionImport() {
	if g, ok := groups["provision"]; ok {
		if _, dup := g.verbs["import"]; !dup {
			g.verbs["import"] = provisionImport()
		}
		return
	}
	register(&group{
		name:    "provision",
		summary: "seed files of hardware tokens",
		verbs:   map[string]*command{"import": provisionImport()},
	})
}

// loopback reports whether a server URL's host is this machine.
func loopback(server string) bool {
	u, err := url.Parse(server)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func runProvisionImport(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	path, err := oneArg(args, "seed file")
	if err != nil {
		return err
	}
	var opts provision.ReadOptions
	if f, _ := fs.GetString("format"); f != "" {
		if opts.Format, err = provision.ParseFormat(f); err != nil {
			return badInput(err)
		}
	}
	if opts.PreSharedKey, opts.Passphrase, err = keyFiles(fs); err != nil {
		return err
	}
	defer clear(opts.PreSharedKey)
	defer clear(opts.Passphrase)
	c, err := newClient(env, fs)
	if err != nil {
		return err
	}
	if allow, _ := fs.GetBool("allow-http"); !allow && strings.HasPrefix(c.BaseURL(), "http://") && !loopback(c.BaseURL()) {
		return &UsageError{Err: fmt.Errorf("refusing to send seeds over plain HTTP to %s", c.BaseURL()), Hint: "use https://, a loopback address, or --allow-http"}
	}

	// Read and check the whole file before anything leaves.
	r, err := provision.Open(path, opts)
	if err != nil {
		return readErr(path, err)
	}
	defer r.Close()
	var recs []verify.TokenRecord
	defer func() {
		for _, rec := range recs {
			rec.Seed.Wipe()
		}
	}()
	for n := 1; ; n++ {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return readErr(path, err)
		}
		if rec.Type == token.HOTP {
			rec.Seed.Wipe()
			return &UsageError{Err: fmt.Errorf("%s: record %d (%s) is an HOTP token; the verifier takes TOTP tokens only", path, n, rec.Serial), Hint: "nothing was imported"}
		}
		if len(rec.Seed) == 0 {
			return &UsageError{Err: fmt.Errorf("%s: record %d (%s) has no seed", path, n, rec.Serial), Hint: "an encrypted file needs --psk-file or --passphrase-file; nothing was imported"}
		}
		recs = append(recs, verify.TokenRecord{Serial: rec.Serial, Spec: rec.Spec, Seed: rec.Seed})
	}
	if len(recs) == 0 {
		return usagef("%s holds no tokens", path)
	}
	res, err := c.ImportTokens(ctx, recs)
	if err != nil {
		if verify.CodeOf(err) == verify.EINVALID {
			return &UsageError{Err: err, Hint: "nothing was imported"}
		}
		return apiErr(err)
	}
	if j, _ := fs.GetBool("json"); j {
		return printJSON(env.Stdout, res)
	}
	fmt.Fprintf(env.Stdout, "imported %d tokens (%d already in the inventory) from %s\n", res.Added, res.Existing, path)
	return nil
}
