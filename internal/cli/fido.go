package cli

// The "fido" group: the host side of FIDO (package ctap) against a real
// security key over USB HID (--device PATH, or the only key connected) or a
// simulated one over UDP (--udp HOST:PORT; see "tokenlab fido emulate").
//
// Output: results on stdout (a table, or one JSON value with --json);
// "touch your key" and other prompts on stderr. "fido list" with no key
// prints nothing (or []) and exits 0; any command that needs a key and
// finds none fails with a hint.
//
// Verbs are added with addFidoVerb from init functions, so the group's
// verbs can live in several files: fido.go (list, info, reset, pin, creds,
// test) and fido_emulate.go (emulate, owned by the authenticator side).

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/battery"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/ctap/udp"
	"github.com/tokenlab/tokenlab/ctap/usbhid"
)

// fidoGroup is the "fido" command group. It is a package-level variable, so
// it exists before any init function runs, whatever the file order.
var fidoGroup = &group{
	name:    "fido",
	summary: "talk to FIDO security keys (USB HID or simulated over UDP) and test them",
	verbs:   map[string]*command{},
}

// addFidoVerb adds a verb to the "fido" group; call it from an init
// function. It panics on a duplicate verb (a programming error).
func addFidoVerb(name string, c *command) {
	if _, dup := fidoGroup.verbs[name]; dup {
		panic("cli: fido verb registered twice: " + name)
	}
	fidoGroup.verbs[name] = c
}

func init() {
	register(fidoGroup)
	addFidoVerb("list", &command{
		usage:   "fido list [--json]",
		summary: "list the FIDO security keys connected over USB (none: empty list, exit 0)",
		flags:   func(fs *pflag.FlagSet) { fs.Bool("json", false, "print JSON") },
		run:     fidoList,
	})
	addFidoVerb("info", &command{
		usage:   "fido info [--device PATH | --udp HOST:PORT] [--json]",
		summary: "show a key's CTAPHID and authenticatorGetInfo details",
		example: "  tokenlab fido info\n  tokenlab fido info --udp 127.0.0.1:8111 --json",
		flags:   func(fs *pflag.FlagSet) { deviceFlags(fs); fs.Bool("json", false, "print JSON") },
		run:     fidoInfo,
	})
	addFidoVerb("reset", &command{
		usage:   "fido reset --yes [--device PATH | --udp HOST:PORT]",
		summary: "erase every credential and the PIN (keys accept it only within 10 s of being plugged in, with a touch)",
		flags: func(fs *pflag.FlagSet) {
			deviceFlags(fs)
			fs.Bool("yes", false, "confirm: the key's credentials are lost for good")
		},
		run: fidoReset,
	})
	addFidoVerb("pin", &command{
		usage:   "fido pin set|change [--pin OLD] [--new-pin NEW] [--device PATH | --udp HOST:PORT]",
		summary: "set the first PIN or change it (PINs missing from the flags are read from stdin, one a line)",
		example: "  tokenlab fido pin set --new-pin 246810\n  tokenlab fido pin change --pin 246810 --new-pin 13579111",
		flags: func(fs *pflag.FlagSet) {
			deviceFlags(fs)
			fs.String("pin", "", "the current PIN (change)")
			fs.String("new-pin", "", "the new PIN, 4 to 63 bytes")
		},
		run: fidoPIN,
	})
	addFidoVerb("creds", &command{
		usage:   "fido creds list|delete [CREDENTIAL-ID] [--pin PIN] [--device PATH | --udp HOST:PORT] [--json]",
		summary: "list the discoverable credentials, or delete one by its id (hex or base64url)",
		example: "  tokenlab fido creds list --pin 246810\n  tokenlab fido creds delete 9f0c…e2 --pin 246810",
		flags: func(fs *pflag.FlagSet) {
			deviceFlags(fs)
			fs.String("pin", "", "the key's PIN (default: read from stdin)")
			fs.Bool("json", false, "print JSON")
		},
		run: fidoCreds,
	})
	addFidoVerb("test", &command{
		usage:   "fido test [--destructive] [--pin PIN] [--junit FILE] [--json] [--only CHECK,…] [--device PATH | --udp HOST:PORT]",
		summary: "run the conformance battery; exit status 1 when a check fails",
		example: "  tokenlab fido test --pin 246810 --junit fido.xml\n  tokenlab fido emulate &  tokenlab fido test --udp 127.0.0.1:8111 --destructive",
		flags: func(fs *pflag.FlagSet) {
			deviceFlags(fs)
			fs.Bool("destructive", false, "also run checks that erase the key (reset)")
			fs.String("pin", "", "the key's PIN, or the PIN to set on a key without one")
			fs.String("junit", "", "write a JUnit XML report to FILE")
			fs.Bool("json", false, "print the report as JSON")
			fs.StringSlice("only", nil, "run only these checks (see --list)")
			fs.Bool("list", false, "list the checks and exit")
			fs.Duration("timeout", 0, "time limit of each check (default 10s simulated, 60s real key)")
		},
		run: fidoTest,
	})
}

func deviceFlags(fs *pflag.FlagSet) {
	fs.String("device", "", "USB HID path of the key (see 'tokenlab fido list')")
	fs.String("udp", "", "a simulated key over UDP at HOST:PORT (e.g. "+udp.DefaultDevice+")")
	fs.String("udp-local", udp.DefaultLocal, "local address for --udp (127.0.0.1:0 for any free port)")
}

// fidoKey is an opened key.
type fidoKey struct {
	dev        *ctaphid.Device
	ch         *ctaphid.Channel
	client     *ctap.Client
	udpConn    *udp.Conn   // set for --udp
	usbInfo    usbhid.Info // set for USB
	powerCycle func(context.Context) error
}

func (k *fidoKey) Close() {
	if k.dev != nil {
		k.dev.Close()
	}
}

// errNoKey is returned when no USB key is connected.
var errNoKey = errors.New("no FIDO security key found")

// openFidoDevice opens the transport chosen by the flags, without a channel.
func openFidoDevice(fs *pflag.FlagSet) (*fidoKey, error) {
	path, _ := fs.GetString("device")
	addr, _ := fs.GetString("udp")
	local, _ := fs.GetString("udp-local")
	if path != "" && addr != "" {
		return nil, usagef("--device and --udp are exclusive")
	}
	if addr != "" {
		c, err := udp.Dial(addr, local)
		if err != nil {
			return nil, &HintError{Err: err, Hint: "pick another local address with --udp-local 127.0.0.1:0"}
		}
		return &fidoKey{dev: ctaphid.NewDevice(c), udpConn: c,
			powerCycle: func(context.Context) error { return c.PowerCycle() }}, nil
	}
	keys, err := usbhid.Enumerate()
	if err != nil {
		return nil, err
	}
	info := usbhid.Info{Path: path}
	for _, k := range keys {
		if k.Path == path {
			info = k
		}
	}
	if path == "" {
		switch len(keys) {
		case 0:
			return nil, &HintError{Err: errNoKey, Hint: "plug a key in, or test a simulation: 'tokenlab fido emulate' then --udp " + udp.DefaultDevice}
		case 1:
			path, info = keys[0].Path, keys[0]
		default:
			var ps []string
			for _, k := range keys {
				ps = append(ps, k.Path)
			}
			return nil, &UsageError{Err: fmt.Errorf("%d FIDO keys connected", len(keys)), Hint: "choose one with --device: " + strings.Join(ps, ", ")}
		}
	}
	d, err := usbhid.Open(path)
	if err != nil {
		if errors.Is(err, usbhid.ErrPermission) && runtime.GOOS == "linux" {
			return nil, &HintError{Err: err, Hint: usbhid.PermissionHint}
		}
		if errors.Is(err, usbhid.ErrNotFound) {
			return nil, &HintError{Err: err, Hint: "see 'tokenlab fido list'"}
		}
		return nil, err
	}
	return &fidoKey{dev: ctaphid.NewDevice(d), usbInfo: info}, nil
}

// findReplugged finds a key again after a replug: the same vendor,
// product and serial (when it has one), else the only key connected.
func findReplugged(was usbhid.Info) (string, error) {
	keys, err := usbhid.Enumerate()
	if err != nil {
		return "", err
	}
	var same []usbhid.Info
	for _, k := range keys {
		if k.VendorID == was.VendorID && k.ProductID == was.ProductID && k.Serial == was.Serial {
			same = append(same, k)
		}
	}
	switch {
	case len(same) == 1:
		return same[0].Path, nil
	case len(keys) == 1:
		return keys[0].Path, nil
	case len(keys) == 0:
		return "", errNoKey
	}
	return "", fmt.Errorf("%d FIDO keys connected: cannot tell which one was replugged", len(keys))
}

// openFido opens the key and a channel; KEEPALIVE UPNEEDED prints
// "touch your key" once per request on stderr.
func openFido(ctx context.Context, env *Env, fs *pflag.FlagSet) (*fidoKey, error) {
	k, err := openFidoDevice(fs)
	if err != nil {
		return nil, err
	}
	ch, err := k.dev.Open(ctx)
	if err != nil {
		k.Close()
		if k.udpConn != nil {
			return nil, &HintError{Err: fmt.Errorf("no simulated key answers at %s: %w", k.udpConn.LocalAddr(), err),
				Hint: "start one with 'tokenlab fido emulate'"}
		}
		return nil, err
	}
	var once sync.Once
	ch.OnKeepalive = func(s ctaphid.KeepaliveStatus) {
		if s == ctaphid.StatusUPNeeded {
			once.Do(func() { fmt.Fprintln(env.Stderr, "tokenlab: touch your key") })
		}
	}
	k.ch = ch
	k.client = ctap.NewClient(ch)
	k.client.OnUserPresence = func() { fmt.Fprintln(env.Stderr, "tokenlab: touch your key") }
	return k, nil
}

// openFidoInfo opens the key as openFido does and asks for its
// authenticatorGetInfo.
func openFidoInfo(ctx context.Context, env *Env, fs *pflag.FlagSet) (*fidoKey, *ctap.GetInfoResponse, error) {
	k, err := openFido(ctx, env, fs)
	if err != nil {
		return nil, nil, err
	}
	info, err := k.client.GetInfo(ctx)
	if err != nil {
		k.Close()
		return nil, nil, err
	}
	return k, info, nil
}

// printFidoList is printTable, except that without --json an empty list
// is "tokenlab: " and none on stderr (exit 0) rather than a bare header.
func printFidoList[T any](env *Env, fs *pflag.FlagSet, list []T, none, header string, row func(T) string) error {
	if j, _ := fs.GetBool("json"); !j && len(list) == 0 {
		fmt.Fprintln(env.Stderr, "tokenlab: "+none)
		return nil
	}
	return printTable(env, fs, list, header, row)
}

func fidoList(_ context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) != 0 {
		return usagef("fido list: unexpected argument %q", args[0])
	}
	keys, err := usbhid.Enumerate()
	if err != nil {
		return err
	}
	if keys == nil {
		keys = []usbhid.Info{}
	}
	return printFidoList(env, fs, keys, "no FIDO security key found", "PATH\tVID:PID\tMANUFACTURER\tPRODUCT", func(k usbhid.Info) string {
		return fmt.Sprintf("%s\t%04x:%04x\t%s\t%s", k.Path, k.VendorID, k.ProductID, k.Manufacturer, k.Product)
	})
}

type fidoInfoOut struct {
	CTAPHID struct {
		Channel      string `json:"channel"`
		Version      string `json:"device_version"`
		Capabilities string `json:"capabilities"`
	} `json:"ctaphid"`
	Info       *ctap.GetInfoResponse `json:"get_info"`
	AAGUID     string                `json:"aaguid"`
	PINRetries *int                  `json:"pin_retries,omitempty"`
}

func fidoInfo(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) != 0 {
		return usagef("fido info: unexpected argument %q", args[0])
	}
	k, info, err := openFidoInfo(ctx, env, fs)
	if err != nil {
		return err
	}
	defer k.Close()
	var out fidoInfoOut
	ii := k.ch.Info()
	out.CTAPHID.Channel = fmt.Sprintf("%08x", k.ch.CID())
	out.CTAPHID.Version = fmt.Sprintf("%d.%d.%d", ii.Major, ii.Minor, ii.Build)
	out.CTAPHID.Capabilities = ii.Capabilities.String()
	out.Info = info
	out.AAGUID = formatAAGUID(info.AAGUID)
	if info.Options[ctap.OptClientPIN] {
		if n, _, err := k.client.PINRetries(ctx); err == nil {
			out.PINRetries = &n
		}
	}
	if j, _ := fs.GetBool("json"); j {
		return printJSON(env.Stdout, out)
	}
	w := env.Stdout
	fmt.Fprintf(w, "versions:       %s\n", strings.Join(info.Versions, ", "))
	fmt.Fprintf(w, "aaguid:         %s\n", out.AAGUID)
	fmt.Fprintf(w, "ctaphid:        device %s, capabilities %s\n", out.CTAPHID.Version, out.CTAPHID.Capabilities)
	if len(info.Extensions) > 0 {
		fmt.Fprintf(w, "extensions:     %s\n", strings.Join(info.Extensions, ", "))
	}
	var opts []string
	for _, name := range sortedKeys(info.Options) {
		opts = append(opts, fmt.Sprintf("%s=%v", name, info.Options[name]))
	}
	fmt.Fprintf(w, "options:        %s\n", strings.Join(opts, " "))
	fmt.Fprintf(w, "pin protocols:  %v\n", info.PinUvAuthProtocols)
	if info.MaxMsgSize > 0 {
		fmt.Fprintf(w, "max msg size:   %d\n", info.MaxMsgSize)
	}
	var algs []string
	for _, a := range info.Algorithms {
		algs = append(algs, a.Alg.String())
	}
	if len(algs) > 0 {
		fmt.Fprintf(w, "algorithms:     %s\n", strings.Join(algs, ", "))
	}
	if out.PINRetries != nil {
		fmt.Fprintf(w, "pin retries:    %d\n", *out.PINRetries)
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func formatAAGUID(b []byte) string {
	if len(b) != 16 {
		return hex.EncodeToString(b)
	}
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func fidoReset(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) != 0 {
		return usagef("fido reset: unexpected argument %q", args[0])
	}
	if yes, _ := fs.GetBool("yes"); !yes {
		return &UsageError{Err: errors.New("fido reset erases every credential and the PIN"), Hint: "add --yes to confirm"}
	}
	k, err := openFido(ctx, env, fs)
	if err != nil {
		return err
	}
	defer k.Close()
	fmt.Fprintln(env.Stderr, "tokenlab: resetting; touch your key when it blinks")
	err = k.client.Reset(ctx)
	if errors.Is(err, ctap.ErrNotAllowed) {
		return &HintError{Err: err, Hint: "keys accept reset only within 10 seconds of being plugged in: replug it and run reset again"}
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "reset: all credentials and the PIN are erased")
	return nil
}

// readPIN returns the flag's value, or the next line of stdin.
func readPIN(env *Env, fs *pflag.FlagSet, flag, what string, lines *[]string) (string, error) {
	if v, _ := fs.GetString(flag); v != "" {
		return v, nil
	}
	if *lines == nil {
		b := make([]byte, 4096)
		n, _ := env.Stdin.Read(b)
		*lines = strings.Split(strings.TrimRight(string(b[:n]), "\r\n"), "\n")
	}
	if len(*lines) == 0 || (*lines)[0] == "" {
		return "", usagef("no %s: give --%s or a line on stdin", what, flag)
	}
	v := strings.TrimRight((*lines)[0], "\r")
	*lines = (*lines)[1:]
	return v, nil
}

func fidoPIN(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) != 1 || (args[0] != "set" && args[0] != "change") {
		return &UsageError{Err: errors.New("fido pin: want 'set' or 'change'"), Hint: "usage: tokenlab fido pin set|change"}
	}
	var lines []string
	var oldPIN string
	var err error
	if args[0] == "change" {
		if oldPIN, err = readPIN(env, fs, "pin", "current PIN", &lines); err != nil {
			return err
		}
	}
	newPIN, err := readPIN(env, fs, "new-pin", "new PIN", &lines)
	if err != nil {
		return err
	}
	if len(newPIN) < 4 || len(newPIN) > 63 {
		return usagef("fido pin: the new PIN must be 4 to 63 bytes")
	}
	k, info, err := openFidoInfo(ctx, env, fs)
	if err != nil {
		return err
	}
	defer k.Close()
	p := ctap.PreferredProtocol(info)
	if p == nil {
		return errors.New("fido pin: the key has no PIN support")
	}
	if args[0] == "set" {
		err = k.client.SetPIN(ctx, p, newPIN)
		if errors.Is(err, ctap.ErrNotAllowed) {
			return &HintError{Err: err, Hint: "the key already has a PIN: use 'tokenlab fido pin change'"}
		}
	} else {
		err = k.client.ChangePIN(ctx, p, oldPIN, newPIN)
	}
	if err != nil {
		return pinHint(err)
	}
	fmt.Fprintf(env.Stdout, "pin %s: done\n", args[0])
	return nil
}

func pinHint(err error) error {
	switch ctap.StatusOf(err) {
	case ctap.ErrPINInvalid:
		return &HintError{Err: err, Hint: "wrong PIN; each wrong PIN costs one of the key's retries ('tokenlab fido info' shows them)"}
	case ctap.ErrPINAuthBlocked:
		return &HintError{Err: err, Hint: "three wrong PINs in a row: unplug the key and plug it back in"}
	case ctap.ErrPINBlocked:
		return &HintError{Err: err, Hint: "the PIN is blocked for good; only 'tokenlab fido reset --yes' (erasing everything) unblocks the key"}
	case ctap.ErrPINPolicyViolation:
		return &HintError{Err: err, Hint: "the key refuses that PIN (too short or too simple)"}
	}
	return err
}

type fidoCredOut struct {
	RPID        string `json:"rp_id"`
	RPName      string `json:"rp_name,omitempty"`
	User        string `json:"user"`
	DisplayName string `json:"display_name,omitempty"`
	UserID      string `json:"user_id"`
	ID          string `json:"credential_id"`
}

func fidoCreds(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "delete") {
		return &UsageError{Err: errors.New("fido creds: want 'list' or 'delete ID'"), Hint: "usage: tokenlab fido creds list|delete CREDENTIAL-ID"}
	}
	var delID []byte
	if args[0] == "delete" {
		if len(args) != 2 {
			return usagef("fido creds delete: want one credential id")
		}
		var err error
		if delID, err = parseCredID(args[1]); err != nil {
			return badInput(err)
		}
	} else if len(args) != 1 {
		return usagef("fido creds list: unexpected argument %q", args[1])
	}
	var lines []string
	pin, err := readPIN(env, fs, "pin", "PIN", &lines)
	if err != nil {
		return err
	}
	k, info, err := openFidoInfo(ctx, env, fs)
	if err != nil {
		return err
	}
	defer k.Close()
	if !info.Options[ctap.OptCredMgmt] && !info.Options[ctap.OptCredMgmtPre] {
		return errors.New("fido creds: the key has no credential management")
	}
	k.client.UseInfo(info)
	p := ctap.PreferredProtocol(info)
	perms := ctap.Permission(0x04) // cm
	if !contains(info.Versions, ctap.VersionFIDO21) {
		perms = 0
	}
	tok, err := k.client.PINToken(ctx, p, pin, perms, "")
	if err != nil {
		return pinHint(err)
	}
	if delID != nil {
		if err := k.client.DeleteCredential(ctx, tok, delID); err != nil {
			if errors.Is(err, ctap.ErrNoCredentials) {
				return &HintError{Err: err, Hint: "no such credential; 'tokenlab fido creds list' shows the ids"}
			}
			return err
		}
		fmt.Fprintln(env.Stdout, "deleted")
		return nil
	}
	rps, err := k.client.RPs(ctx, tok)
	if err != nil {
		return err
	}
	out := []fidoCredOut{}
	for _, rp := range rps {
		creds, err := k.client.Credentials(ctx, tok, rp.RPIDHash)
		if err != nil {
			return err
		}
		for _, c := range creds {
			out = append(out, fidoCredOut{RPID: rp.RP.ID, RPName: rp.RP.Name, User: c.User.Name, DisplayName: c.User.DisplayName,
				UserID: base64.RawURLEncoding.EncodeToString(c.User.ID), ID: hex.EncodeToString(c.ID.ID)})
		}
	}
	return printFidoList(env, fs, out, "no discoverable credentials", "RP\tUSER\tCREDENTIAL ID", func(c fidoCredOut) string {
		return fmt.Sprintf("%s\t%s\t%s", c.RPID, c.User, c.ID)
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseCredID accepts hex or base64url (with or without padding).
func parseCredID(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) > 0 {
		return b, nil
	}
	if b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "=")); err == nil && len(b) > 0 {
		return b, nil
	}
	return nil, fmt.Errorf("credential id %q is neither hex nor base64url", s)
}

func fidoTest(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) != 0 {
		return usagef("fido test: unexpected argument %q", args[0])
	}
	if l, _ := fs.GetBool("list"); l {
		tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
		for _, c := range battery.Checks() {
			fmt.Fprintf(tw, "%s\t%s\n", c.Name, c.Summary)
		}
		return tw.Flush()
	}
	opts := battery.Options{}
	opts.Destructive, _ = fs.GetBool("destructive")
	opts.PIN, _ = fs.GetString("pin")
	opts.Timeout, _ = fs.GetDuration("timeout")
	if only, _ := fs.GetStringSlice("only"); len(only) > 0 {
		known := map[string]bool{}
		for _, c := range battery.Checks() {
			known[c.Name] = true
		}
		opts.Only = map[string]bool{}
		for _, n := range only {
			if !known[n] {
				return &UsageError{Err: fmt.Errorf("fido test: unknown check %q", n), Hint: "'tokenlab fido test --list' lists them"}
			}
			opts.Only[n] = true
		}
	}
	junit, _ := fs.GetString("junit")
	asJSON, _ := fs.GetBool("json")
	k, err := openFidoDevice(fs)
	if err != nil {
		return err
	}
	first := k.dev
	prompt := func(msg string) { fmt.Fprintf(env.Stderr, "tokenlab: %s\n", msg) }
	target := battery.Target{
		Open: func(context.Context) (*ctaphid.Device, error) {
			if first != nil { // the device opened above, then fresh ones after a replug
				d := first
				first = nil
				return d, nil
			}
			// After a replug the key's path usually changes: find it again.
			path, err := findReplugged(k.usbInfo)
			if err != nil {
				return nil, err
			}
			d, err := usbhid.Open(path)
			if err != nil {
				return nil, err
			}
			return ctaphid.NewDevice(d), nil
		},
		PowerCycle: k.powerCycle,
	}
	if k.powerCycle == nil {
		target.Prompt = prompt
		fmt.Fprintln(env.Stderr, "tokenlab: testing a real key: follow the prompts (touches, one or two replugs)")
	}
	if !asJSON && env.IsTerminal != nil && env.IsTerminal(env.Stderr) {
		opts.Log = env.Stderr
	}
	rep := battery.Run(ctx, target, opts)
	if junit != "" {
		f, err := os.Create(junit)
		if err != nil {
			return err
		}
		werr := rep.WriteJUnit(f)
		if err := errors.Join(werr, f.Close()); err != nil {
			return err
		}
	}
	if asJSON {
		err = rep.WriteJSON(env.Stdout)
	} else {
		err = rep.WriteTable(env.Stdout)
	}
	if err != nil {
		return err
	}
	if rep.Failed() {
		_, f, _ := rep.Counts()
		return fmt.Errorf("fido test: %d check(s) failed", f)
	}
	return nil
}
