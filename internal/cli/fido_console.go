package cli

// "fido enroll" and "fido login": the web console's WebAuthn ceremonies
// from the command line (package consoleclient), with a USB key or the
// simulated one (--udp), so QA can register and use physical keys against
// a verifier without a browser. The password comes from --password-file,
// else from a prompt (no echo) on a terminal, else from the first line of
// stdin. The WebAuthn origin is the console's, after its redirects
// (http://127.0.0.1:8080 becomes http://localhost:8080).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/verify/console/consoleclient"
)

func init() {
	flags := func(fs *pflag.FlagSet) {
		deviceFlags(fs)
		fs.String("server", "", "the verifier's URL (default $TOKENLAB_SERVER, else "+defaultServer+")")
		fs.String("user", "", "user name")
		fs.String("password-file", "", "read the password from FILE (default: prompt, or the first line of stdin)")
		fs.String("pin", "", "the key's PIN, if it has one")
		fs.String("mfa-device", "", "with --code: a TOTP device (serial or ARN) for the second factor")
		fs.String("code", "", "a code of --mfa-device, when the user already has MFA")
		fs.Bool("json", false, "print JSON")
	}
	addFidoVerb("enroll", &command{
		usage:   "fido enroll --server URL --user U [--name KEYNAME] [--password-file F] [--mfa-device D --code C] [--pin PIN] [--device PATH | --udp HOST:PORT] [--json]",
		summary: "register a security key as an MFA device of a user, through the web console's WebAuthn ceremony",
		example: "  tokenlab fido enroll --server http://localhost:8080 --user alice --name yubikey-5\n" +
			"  tokenlab fido enroll --server http://localhost:8080 --user alice --password-file pw --udp 127.0.0.1:8111",
		flags: func(fs *pflag.FlagSet) {
			flags(fs)
			fs.String("name", "security-key", "the device's name (letters, digits and _+=,.@-)")
		},
		run: fidoEnroll,
	})
	addFidoVerb("login", &command{
		usage:   "fido login --server URL --user U [--password-file F] [--pin PIN] [--device PATH | --udp HOST:PORT] [--json]",
		summary: "sign in to the web console with a password and a security key, as a browser would",
		example: "  tokenlab fido login --server http://localhost:8080 --user alice",
		flags:   flags,
		run:     fidoConsoleLogin,
	})
}

// consoleSession signs in with the password; it returns the client,
// whether MFA is due, and the opened key.
func consoleSession(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) (*consoleclient.Client, bool, *fidoKey, error) {
	if len(args) != 0 {
		return nil, false, nil, usagef("unexpected argument %q", args[0])
	}
	server, _ := fs.GetString("server")
	if server == "" {
		server = env.Getenv("TOKENLAB_SERVER")
	}
	if server == "" {
		server = defaultServer
	}
	user, _ := fs.GetString("user")
	if user == "" {
		return nil, false, nil, &UsageError{Err: errors.New("--user is required"), Hint: "as in --server http://localhost:8080 --user alice"}
	}
	pw, err := readPassword(env, fs, user)
	if err != nil {
		return nil, false, nil, err
	}
	c, err := consoleclient.New(server)
	if err != nil {
		return nil, false, nil, badInput(err)
	}
	k, err := openFido(ctx, env, fs)
	if err != nil {
		return nil, false, nil, err
	}
	if pin, _ := fs.GetString("pin"); pin != "" {
		c.PINUV = pinUV(k.client, pin)
	}
	st, err := c.SignIn(ctx, user, pw)
	if err != nil {
		k.Close()
		return nil, false, nil, consoleHint(err)
	}
	return c, st.NeedMFA, k, nil
}

// pinUV returns a consoleclient.PINUV that gets a pinUvAuthToken with pin
// for each request.
func pinUV(c *ctap.Client, pin string) func(ctx context.Context, h []byte, perm ctap.Permission, rpID string) ([]byte, uint, error) {
	return func(ctx context.Context, h []byte, perm ctap.Permission, rpID string) ([]byte, uint, error) {
		info, err := c.GetInfo(ctx)
		if err != nil {
			return nil, 0, err
		}
		p := ctap.PreferredProtocol(info)
		if p == nil {
			return nil, 0, errors.New("the key has no PIN support; leave --pin out")
		}
		tok, err := c.PINToken(ctx, p, pin, perm, rpID)
		if err != nil {
			return nil, 0, pinHint(err)
		}
		return tok.Param(h), uint(p.Version()), nil
	}
}

func readPassword(env *Env, fs *pflag.FlagSet, user string) (string, error) {
	if f, _ := fs.GetString("password-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", badInput(err)
		}
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return "", usagef("--password-file %s is empty", f)
		}
		return pw, nil
	}
	if f, ok := env.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(env.Stderr, "Password for %s: ", user)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		if err == nil {
			err = errors.New("empty line")
		}
		return "", &UsageError{Err: fmt.Errorf("no password: %v", err), Hint: "give --password-file FILE, or type it at the prompt"}
	}
	return line, nil
}

// consoleHint adds what to do to the console's refusals.
func consoleHint(err error) error {
	if err == nil {
		return nil
	}
	var he *HintError
	if errors.As(err, &he) {
		return err
	}
	var ce *consoleclient.Error
	if !errors.As(err, &ce) {
		var ue *url.Error
		if errors.As(err, &ue) {
			return &HintError{Err: err, Hint: "is the verifier running ('tokenlab serve') at --server?"}
		}
		return err
	}
	switch {
	case ce.Status == 429:
		return &HintError{Err: err, Hint: "wait, then try again"}
	case ce.Reason == "unknown-credential":
		return &HintError{Err: err, Hint: "enroll this key first: 'tokenlab fido enroll'"}
	case ce.Status == 409:
		return &HintError{Err: err, Hint: "remove a device in the console's Security credentials page first"}
	}
	return err
}

// secondFactor completes sign-in: with --mfa-device/--code when given,
// else with the key.
func secondFactor(ctx context.Context, fs *pflag.FlagSet, c *consoleclient.Client, k *fidoKey) (string, error) {
	dev, _ := fs.GetString("mfa-device")
	code, _ := fs.GetString("code")
	if code != "" || dev != "" {
		if code == "" || dev == "" {
			return "", usagef("--mfa-device and --code go together")
		}
		return dev, consoleHint(c.Code(ctx, dev, code))
	}
	used, err := c.Login(ctx, k.client)
	return used, consoleHint(err)
}

type consoleOut struct {
	User   string `json:"user"`
	Device string `json:"device"`
	Origin string `json:"origin"`
}

func fidoEnroll(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	name, _ := fs.GetString("name")
	c, mfa, k, err := consoleSession(ctx, env, fs, args)
	if err != nil {
		return err
	}
	defer k.Close()
	if mfa {
		if _, err := secondFactor(ctx, fs, c, k); err != nil {
			var he *HintError
			if !errors.As(err, &he) {
				err = &HintError{Err: err, Hint: "the user already has MFA: give --mfa-device and --code, or use a key already registered"}
			}
			return err
		}
	}
	arn, err := c.Enroll(ctx, k.client, name)
	if err != nil {
		if errors.Is(err, ctap.ErrCredentialExcluded) {
			return &HintError{Err: err, Hint: "this key is already registered for the user"}
		}
		return consoleHint(err)
	}
	user, _ := fs.GetString("user")
	return printConsole(env, fs, consoleOut{User: user, Device: arn, Origin: c.Origin()}, "enrolled")
}

func fidoConsoleLogin(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	c, mfa, k, err := consoleSession(ctx, env, fs, args)
	if err != nil {
		return err
	}
	defer k.Close()
	user, _ := fs.GetString("user")
	if !mfa {
		return &HintError{Err: fmt.Errorf("%s has no MFA device: signed in with the password alone", user), Hint: "enroll a key first: 'tokenlab fido enroll'"}
	}
	used, err := secondFactor(ctx, fs, c, k)
	if err != nil {
		return err
	}
	c.SignOut(ctx)
	return printConsole(env, fs, consoleOut{User: user, Device: used, Origin: c.Origin()}, "signed in")
}

func printConsole(env *Env, fs *pflag.FlagSet, o consoleOut, what string) error {
	if j, _ := fs.GetBool("json"); j {
		return json.NewEncoder(env.Stdout).Encode(o)
	}
	fmt.Fprintf(env.Stdout, "%s: %s %s (origin %s)\n", what, o.User, o.Device, o.Origin)
	return nil
}
