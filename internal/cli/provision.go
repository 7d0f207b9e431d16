package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/pflag"

	"github.com/tokenlab/tokenlab/provision"
	"github.com/tokenlab/tokenlab/provision/label"
	"github.com/tokenlab/tokenlab/provision/pskc"
	"github.com/tokenlab/tokenlab/token"
)

// The provision group: batches of hardware tokens, their seed files
// (PSKC, CSV), labels and the simulated production line. Seed files are
// written under a temporary name and renamed when complete; a file that
// fails to read (wrong key, tampered MAC, duplicate serial...) is checked
// in full before anything is printed or burnt, so a bad file leaves no
// partial output.

func init() {
	register(&group{
		name:    "provision",
		summary: "manufacture tokens: batches, PSKC/CSV seed files, labels, the production line",
		verbs: map[string]*command{
			"batch": {
				usage:   "provision batch --model M --count N --prefix P [--start K | --after SERIAL] --out FILE [--format pskc|csv|oath-csv|entra-csv] [--psk-file F | --passphrase-file F] [--labels FILE.pdf|FILE.png] [--burn]",
				summary: "generate N tokens (serials with check digits, fresh seeds) and write their seed file",
				example: "  openssl rand -hex 16 > transport.key\n" +
					"  tokenlab provision batch --model keyfob --count 1000 --prefix GAHT --start 1 --out batch1.pskc --psk-file transport.key\n" +
					"  tokenlab provision batch --model keyfob --count 1000 --after GAHT00010009 --out batch2.csv --format csv --labels batch2.pdf\n" +
					"  tokenlab provision batch --model displaycard --count 20 --prefix GAHT --out cards.pskc --burn",
				flags: func(fs *pflag.FlagSet) {
					fs.String("model", "keyfob", "keyfob, displaycard or virtual")
					fs.Int("count", 0, "how many tokens (at least 1)")
					fs.String("prefix", "", "serial prefix: four upper-case letters")
					fs.Uint64("start", 1, "number of the first serial (0 to 9999999)")
					fs.String("after", "", "continue after this serial, or after the highest serial of this seed file")
					fs.String("out", "", "seed file to write")
					fs.String("format", "pskc", "pskc, csv, oath-csv or entra-csv")
					fs.String("algorithm", "SHA1", "HMAC hash: SHA1, SHA256 or SHA512 (seeds of 20, 32 or 64 bytes)")
					fs.Int("digits", 6, "code length: 6 or 8")
					fs.Int("period", 30, "time step in seconds: 30 or 60")
					fs.String("issuer", "", "issuer written to PSKC and to virtual tokens' otpauth URIs")
					keyFileFlags(fs)
					fs.Int("iterations", pskc.DefaultIterations, "PBKDF2 iterations with --passphrase-file")
					fs.String("labels", "", "also print labels to FILE.pdf or FILE.png")
					fs.Bool("burn", false, "run the production line on the batch (see provision line)")
					lineFlags(fs)
					fs.Bool("json", false, "print JSON")
				},
				run: provisionBatch,
			},
			"inspect": {
				usage:   "provision inspect FILE [--psk-file F | --passphrase-file F] [--show-secrets] [--json]",
				summary: "list the tokens of a seed file (PSKC or any CSV layout), without secrets unless asked",
				example: "  tokenlab provision inspect batch1.pskc --psk-file transport.key\n  tokenlab provision inspect batch2.csv --json",
				flags: func(fs *pflag.FlagSet) {
					keyFileFlags(fs)
					fs.String("format", "", "force a format (default: detected)")
					fs.Bool("show-secrets", false, "include the seeds (base32)")
					fs.Bool("json", false, "print JSON")
				},
				run: provisionInspect,
			},
			"line": {
				usage:   "provision line --in FILE [--stations N] [--report FILE.csv|FILE.json] [--defect-rate R] [--psk-file F | --passphrase-file F]",
				summary: "run the simulated production line: provision, self-test and lock a token per seed; locked tokens land in the home",
				example: "  tokenlab provision line --in batch1.pskc --psk-file transport.key --stations 4 --report line.csv\n" +
					"  tokenlab provision line --in batch2.csv --defect-rate 0.05 --report line.json\n" +
					"  tokenlab fob press GAHT00000018",
				flags: func(fs *pflag.FlagSet) {
					fs.String("in", "", "seed file (PSKC or CSV)")
					keyFileFlags(fs)
					lineFlags(fs)
					fs.Bool("json", false, "print JSON")
				},
				run: provisionLine,
			},
			"labels": {
				usage:   "provision labels --in FILE --out FILE.pdf|FILE.png [--psk-file F | --passphrase-file F]",
				summary: "print labels for the tokens of a seed file",
				example: "  tokenlab provision labels --in batch1.pskc --psk-file transport.key --out batch1.pdf",
				flags: func(fs *pflag.FlagSet) {
					fs.String("in", "", "seed file")
					fs.String("out", "", "label sheet to write (.pdf or .png)")
					fs.String("issuer", "", "issuer in virtual tokens' otpauth URIs")
					keyFileFlags(fs)
				},
				run: provisionLabels,
			},
		},
	})
}

func keyFileFlags(fs *pflag.FlagSet) {
	fs.String("psk-file", "", "file holding the 16-byte pre-shared key as 32 hex digits")
	fs.String("passphrase-file", "", "file holding the passphrase (PBKDF2) as text")
}

// keyFiles reads --psk-file and --passphrase-file. Neither the key nor the
// passphrase ever appears in an error.
func keyFiles(fs *pflag.FlagSet) (psk, pass []byte, err error) {
	pf, qf := flagString(fs, "psk-file"), flagString(fs, "passphrase-file")
	if pf != "" && qf != "" {
		return nil, nil, usagef("give --psk-file or --passphrase-file, not both")
	}
	if pf != "" {
		b, err := os.ReadFile(pf)
		if err != nil {
			return nil, nil, badInput(err)
		}
		s := strings.TrimSpace(string(b))
		psk, err = hex.DecodeString(s)
		if err != nil || len(psk) != 16 {
			return nil, nil, &UsageError{Err: fmt.Errorf("--psk-file %s: want 32 hex digits (a 16-byte AES-128 key)", pf),
				Hint: "make one with: openssl rand -hex 16 > " + pf}
		}
	}
	if qf != "" {
		b, err := os.ReadFile(qf)
		if err != nil {
			return nil, nil, badInput(err)
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			return nil, nil, usagef("--passphrase-file %s is empty", qf)
		}
		pass = []byte(s)
	}
	return psk, pass, nil
}

// readErr classifies an error reading a seed file: every refusal of its
// content is bad input (exit 2), with a hint for a key problem.
func readErr(path string, err error) error {
	err = fmt.Errorf("%s: %w", path, err)
	switch {
	case errors.Is(err, pskc.ErrKeyRequired):
		return &UsageError{Err: err, Hint: "give the file's key with --psk-file or its passphrase with --passphrase-file"}
	case errors.Is(err, pskc.ErrMAC), errors.Is(err, pskc.ErrDecrypt):
		return &UsageError{Err: err, Hint: "check --psk-file / --passphrase-file; if they are right, the file was altered"}
	case errors.Is(err, os.ErrNotExist), errors.Is(err, os.ErrPermission):
		return badInput(err)
	case errors.Is(err, pskc.ErrFormat), errors.Is(err, pskc.ErrUnsupported), errors.Is(err, provision.ErrRecord),
		errors.Is(err, provision.ErrDuplicate), errors.Is(err, token.ErrSeed), errors.Is(err, token.ErrSerial), errors.Is(err, token.ErrSpec):
		return badInput(err)
	}
	return err
}

// progress is a bar on a terminal and nothing otherwise.
type progress struct {
	bar     *progressbar.ProgressBar
	pending int
}

func newProgress(env *Env, total int, what string) *progress {
	if env.IsTerminal == nil || !env.IsTerminal(env.Stderr) {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions64(int64(total),
		progressbar.OptionSetWriter(env.Stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("tokens"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

// add counts n done; the bar is touched every 1024 to stay cheap.
func (p *progress) add(n int) {
	if p.bar == nil {
		return
	}
	p.pending += n
	if p.pending >= 1024 {
		p.bar.Add(p.pending)
		p.pending = 0
	}
}

func (p *progress) done() {
	if p.bar == nil {
		return
	}
	p.bar.Add(p.pending)
	p.bar.Finish()
}

type batchResult struct {
	Count     int          `json:"count"`
	First     string       `json:"first_serial"`
	Last      string       `json:"last_serial"`
	Model     string       `json:"model"`
	Spec      string       `json:"spec"`
	File      string       `json:"file"`
	Format    string       `json:"format"`
	Protected string       `json:"protection"`
	Labels    string       `json:"labels,omitempty"`
	Line      *lineSummary `json:"line,omitempty"`
}

func provisionBatch(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) != 0 {
		return usagef("provision batch: unexpected argument %q", args[0])
	}
	model, err := token.ParseModel(flagString(fs, "model"))
	if err != nil {
		return badInput(err)
	}
	count, _ := fs.GetInt("count")
	if count <= 0 {
		return &UsageError{Err: fmt.Errorf("provision batch: --count %d: want at least 1", count), Hint: "e.g. --count 100"}
	}
	prefix, after := flagString(fs, "prefix"), flagString(fs, "after")
	if after == "" {
		if _, err := token.ParsePrefix(prefix); err != nil {
			return &UsageError{Err: err, Hint: "serials are four upper-case letters, seven digits and a check digit: --prefix GAHT"}
		}
	} else if fs.Changed("start") {
		return usagef("give --start or --after, not both")
	}
	out := flagString(fs, "out")
	if out == "" {
		return &UsageError{Err: errors.New("provision batch: --out FILE is required"), Hint: "e.g. --out batch.pskc"}
	}
	format, err := provision.ParseFormat(flagString(fs, "format"))
	if err != nil {
		return badInput(err)
	}
	spec, err := specFlags(fs)
	if err != nil {
		return err
	}
	psk, pass, err := keyFiles(fs)
	if err != nil {
		return err
	}
	if format != provision.FormatPSKC && (psk != nil || pass != nil) {
		return usagef("--psk-file and --passphrase-file need --format pskc: %s files are not encrypted", format)
	}
	start, _ := fs.GetUint64("start")
	iter, _ := fs.GetInt("iterations")
	cfg := provision.BatchConfig{Model: model, Spec: spec, Prefix: prefix, Start: start, Count: count, Issuer: flagString(fs, "issuer")}
	if after != "" {
		if st, err := os.Stat(after); err == nil && st.Mode().IsRegular() {
			// --after FILE: continue after the last serial of a seed file.
			last, err := lastSerial(after, prefix, psk, pass)
			if err != nil {
				return err
			}
			after = string(last)
		}
		cfg.After = token.Serial(after)
		cfg.Prefix = ""
	}
	batch, err := provision.NewBatch(cfg)
	if err != nil {
		return badInput(err)
	}
	var line *lineConfig
	if flagBool(fs, "burn") {
		if !model.Hardware() {
			return usagef("--burn: %s tokens are apps, there is nothing to burn", model)
		}
		if line, err = lineFlagValues(env, fs); err != nil {
			return err
		}
	}

	f, err := provision.CreateFile(out)
	if err != nil {
		return err
	}
	defer f.Abort()
	w, err := provision.NewWriter(f, format, provision.WriteOptions{PreSharedKey: psk, Passphrase: pass, Iterations: iter})
	if err != nil {
		return badInput(err)
	}
	closed := false
	defer func() {
		if !closed {
			w.Close() // stops the writer's goroutines; the file is aborted
		}
	}()
	var sheet label.Sheet
	var lf *provision.File
	if p := flagString(fs, "labels"); p != "" {
		if count > label.MaxLabels {
			return usagef("--labels: at most %d labels per sheet file; print labels per lot with 'provision labels'", label.MaxLabels)
		}
		if lf, err = provision.CreateFile(p); err != nil {
			return err
		}
		defer lf.Abort()
		if sheet, err = label.New(lf, p); err != nil {
			return badInput(err)
		}
	}
	res := batchResult{Count: count, Model: model.String(), Spec: cfg.Spec.String(), File: out, Format: string(format), Protected: protection(psk, pass), Labels: flagString(fs, "labels")}
	bar := newProgress(env, count, "writing "+out)
	for i := 0; ; i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		rec, err := batch.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if res.First == "" {
			res.First = string(rec.Serial)
		}
		res.Last = string(rec.Serial)
		if err := w.Write(rec); err != nil {
			return badInput(err)
		}
		if sheet != nil {
			if err := sheet.Add(labelFor(rec, cfg.Issuer)); err != nil {
				return badInput(err)
			}
		}
		bar.add(1)
	}
	closed = true
	if err := w.Close(); err != nil {
		return err
	}
	bar.done()
	if sheet != nil {
		if err := sheet.Close(); err != nil {
			return err
		}
		if err := lf.Commit(); err != nil {
			return err
		}
	}
	if err := f.Commit(); err != nil {
		return err
	}
	if line != nil {
		line.in = out
		line.psk, line.pass = psk, pass
		sum, err := runLine(ctx, env, line)
		if err != nil {
			return err
		}
		res.Line = sum
	}
	if flagBool(fs, "json") {
		return printJSON(env.Stdout, res)
	}
	fmt.Fprintf(env.Stdout, "%d %s tokens %s..%s (%s) written to %s (%s, %s)\n", res.Count, res.Model, res.First, res.Last, res.Spec, out, format, res.Protected)
	if res.Labels != "" {
		fmt.Fprintf(env.Stdout, "labels: %s\n", res.Labels)
	}
	if res.Line != nil {
		printLineSummary(env.Stdout, res.Line)
	}
	return nil
}

func protection(psk, pass []byte) string {
	switch {
	case psk != nil:
		return "pre-shared key"
	case pass != nil:
		return "passphrase"
	}
	return "plaintext"
}

// lastSerial returns the highest allocated serial of a seed file (under
// prefix, if given). Only serials are read: no secret is decrypted.
func lastSerial(path, prefix string, psk, pass []byte) (token.Serial, error) {
	r, err := provision.Open(path, provision.ReadOptions{PreSharedKey: psk, Passphrase: pass, SkipSecrets: true})
	if err != nil {
		return "", readErr(path, err)
	}
	defer r.Close()
	var last token.Serial
	var lastN uint64
	prefixes := map[string]bool{}
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", readErr(path, err)
		}
		p, n, err := rec.Serial.Split()
		if err != nil || (prefix != "" && p != prefix) {
			continue
		}
		prefixes[p] = true
		if last == "" || n > lastN {
			last, lastN = rec.Serial, n
		}
	}
	switch {
	case len(prefixes) > 1:
		return "", usagef("--after %s: the file holds serials under %d prefixes; choose one with --prefix", path, len(prefixes))
	case last == "":
		return "", usagef("--after %s: no serial allocated by tokenlab in the file", path)
	}
	return last, nil
}

// specFlags reads --algorithm, --digits and --period.
func specFlags(fs *pflag.FlagSet) (token.Spec, error) {
	alg, err := token.ParseAlgorithm(flagString(fs, "algorithm"))
	if err != nil {
		return token.Spec{}, badInput(err)
	}
	digits, _ := fs.GetInt("digits")
	period, _ := fs.GetInt("period")
	spec := token.Spec{Algorithm: alg, Digits: digits, Period: time.Duration(period) * time.Second}
	if err := spec.Validate(); err != nil {
		return token.Spec{}, badInput(err)
	}
	return spec, nil
}

// labelFor is a record's label: virtual tokens carry their otpauth URI.
func labelFor(rec provision.Record, issuer string) label.Label {
	l := label.Label{Serial: rec.Serial}
	if rec.Model == token.Virtual {
		if issuer == "" {
			issuer = "tokenlab"
		}
		l.URI = token.Key{Type: rec.Type, Issuer: issuer, Account: string(rec.Serial), Seed: rec.Seed, Spec: rec.Spec, Counter: rec.Counter}.URI()
	}
	return l
}

type inspectRow struct {
	Serial       string `json:"serial"`
	Model        string `json:"model,omitempty"`
	Type         string `json:"type"`
	Algorithm    string `json:"algorithm"`
	Digits       int    `json:"digits"`
	Period       int    `json:"period,omitempty"`
	Counter      uint64 `json:"counter,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Secret       string `json:"secret,omitempty"` // base32, with --show-secrets only
}

func provisionInspect(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) != 1 {
		return &UsageError{Err: fmt.Errorf("provision inspect: want exactly one FILE, got %d arguments", len(args)), Hint: "usage: tokenlab provision inspect FILE"}
	}
	path := args[0]
	psk, pass, err := keyFiles(fs)
	if err != nil {
		return err
	}
	opts := provision.ReadOptions{PreSharedKey: psk, Passphrase: pass}
	if s := flagString(fs, "format"); s != "" {
		if opts.Format, err = provision.ParseFormat(s); err != nil {
			return badInput(err)
		}
	}
	show := flagBool(fs, "show-secrets")
	if !show && psk == nil && pass == nil {
		opts.SkipSecrets = true // list an encrypted file without its key
	}
	// First pass: the whole file must read before anything is printed.
	if _, err := provision.Check(path, opts); err != nil {
		return readErr(path, err)
	}
	r, err := provision.Open(path, opts)
	if err != nil {
		return readErr(path, err)
	}
	defer r.Close()
	asJSON := flagBool(fs, "json")
	var tw *tabwriter.Writer
	if asJSON {
		io.WriteString(env.Stdout, "[")
	} else {
		tw = tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		hdr := "SERIAL\tMODEL\tTYPE\tALGORITHM\tDIGITS\tPERIOD"
		if show {
			hdr += "\tSECRET"
		}
		fmt.Fprintln(tw, hdr)
	}
	for n := 0; ; n++ {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return readErr(path, err)
		}
		row := inspectRow{Serial: string(rec.Serial), Type: string(rec.Type), Algorithm: rec.Spec.Algorithm.String(),
			Digits: rec.Spec.Digits, Counter: rec.Counter, Manufacturer: rec.Manufacturer}
		if rec.Model != 0 {
			row.Model = rec.Model.String()
		}
		if rec.Type == token.TOTP {
			row.Period = int(rec.Spec.Period / time.Second)
		}
		if show {
			row.Secret = rec.Seed.Base32()
		}
		if asJSON {
			b, err := json.Marshal(row)
			if err != nil {
				return err
			}
			sep := ",\n  "
			if n == 0 {
				sep = "\n  "
			}
			if _, err := io.WriteString(env.Stdout, sep+string(b)); err != nil {
				return err
			}
			continue
		}
		model, period := row.Model, "-"
		if model == "" {
			model = "-"
		}
		if row.Period != 0 {
			period = fmt.Sprintf("%ds", row.Period)
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%s", row.Serial, model, row.Type, row.Algorithm, row.Digits, period)
		if show {
			line += "\t" + row.Secret
		}
		fmt.Fprintln(tw, line)
	}
	if asJSON {
		_, err := io.WriteString(env.Stdout, "\n]\n")
		return err
	}
	if opts.SkipSecrets {
		defer fmt.Fprintln(env.Stderr, "tokenlab: note: no key given; encrypted secrets were neither decrypted nor MAC-checked")
	}
	return tw.Flush()
}

func provisionLabels(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) != 0 {
		return usagef("provision labels: unexpected argument %q", args[0])
	}
	in, out := flagString(fs, "in"), flagString(fs, "out")
	if in == "" || out == "" {
		return usagef("provision labels: --in FILE and --out FILE.pdf|FILE.png are required")
	}
	psk, pass, err := keyFiles(fs)
	if err != nil {
		return err
	}
	opts := provision.ReadOptions{PreSharedKey: psk, Passphrase: pass}
	n, err := provision.Check(in, opts)
	if err != nil {
		return readErr(in, err)
	}
	if n > label.MaxLabels {
		return usagef("provision labels: %s holds %d tokens; at most %d labels per sheet file", in, n, label.MaxLabels)
	}
	r, err := provision.Open(in, opts)
	if err != nil {
		return readErr(in, err)
	}
	defer r.Close()
	f, err := provision.CreateFile(out)
	if err != nil {
		return err
	}
	defer f.Abort()
	sheet, err := label.New(f, out)
	if err != nil {
		return badInput(err)
	}
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return readErr(in, err)
		}
		if err := sheet.Add(labelFor(rec, flagString(fs, "issuer"))); err != nil {
			return badInput(err)
		}
	}
	if err := sheet.Close(); err != nil {
		return err
	}
	if err := f.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%d labels written to %s\n", n, out)
	return nil
}
