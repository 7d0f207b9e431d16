package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/client"
	"github.com/tokenlab/tokenlab/verify/httpapi"
)

func init() {
	userDevice := func(fs *pflag.FlagSet) {
		fs.String("user", "", "user name")
		fs.String("serial", "", "device: a hardware serial or a virtual MFA ARN")
	}
	twoCodes := func(fs *pflag.FlagSet) {
		userDevice(fs)
		fs.String("code1", "", "first code")
		fs.String("code2", "", "the next code, one period later")
		clientFlags(fs)
	}
	deviceOnly := func(fs *pflag.FlagSet) {
		fs.String("serial", "", "device: a hardware serial or a virtual MFA ARN")
		clientFlags(fs)
	}
	register(&group{
		name:    "mfa",
		summary: "enroll, check and manage MFA devices (client of tokenlab serve)",
		verbs: map[string]*command{
			"enable": {
				usage:   "mfa enable --user U --serial S --code1 C --code2 C",
				summary: "Enable a hardware token or virtual device for a user with two consecutive codes.",
				example: "  tokenlab mfa enable --user alice --serial GAHT00000017 --code1 123456 --code2 654321",
				flags:   twoCodes,
				run:     twoCodesAction((*client.Client).Enable, "enabled"),
			},
			"resync": {
				usage:   "mfa resync --user U --serial S --code1 C --code2 C",
				summary: "Resynchronise a drifted device with two consecutive codes.",
				flags:   twoCodes,
				run:     twoCodesAction((*client.Client).Resync, "resynchronised"),
			},
			"check": {
				usage:   "mfa check --user U --serial S --code C [--json]",
				summary: "Check a code. Exit status 0 when accepted, 1 when refused (wrong, replayed, locked, not enabled, lost).",
				example: "  tokenlab mfa check --user alice --serial arn:aws:iam::123456789012:mfa/alice-phone --code 123456",
				flags: func(fs *pflag.FlagSet) {
					userDevice(fs)
					fs.String("code", "", "the code")
					fs.Bool("json", false, "print the decision as JSON")
					clientFlags(fs)
				},
				run: runCheck,
			},
			"deactivate": {
				usage:   "mfa deactivate --user U --serial S",
				summary: "Detach a device from a user.",
				flags: func(fs *pflag.FlagSet) {
					userDevice(fs)
					clientFlags(fs)
				},
				run: func(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
					user, dev, err := userAndDevice(fs, args)
					if err != nil {
						return err
					}
					return clientCall(env, fs, func(c *client.Client) error { return c.Deactivate(ctx, user, dev) },
						"deactivated %s for %s", dev, user)
				},
			},
			"create-virtual": {
				usage:   "mfa create-virtual --name N [--path /P/] [--tag K=V]… [--qr FILE.png] [--json]",
				summary: "Create a virtual MFA device and print its one-time bootstrap: the seed (base32) and otpauth URI, shown this once.",
				example: "  tokenlab mfa create-virtual --name alice-phone --qr alice.png",
				flags: func(fs *pflag.FlagSet) {
					fs.String("name", "", "device name")
					fs.String("path", "", "IAM path, /…/ (default /)")
					fs.StringArray("tag", nil, "tag KEY=VALUE (repeatable)")
					fs.String("qr", "", "write the QR code PNG to this file (mode 0600)")
					fs.Bool("json", false, "print JSON (qr_png as base64)")
					clientFlags(fs)
				},
				run: runCreateVirtual,
			},
			"delete-virtual": {
				usage:   "mfa delete-virtual --serial ARN",
				summary: "Delete an unassigned virtual MFA device.",
				flags:   deviceOnly,
				run:     deviceAction((*client.Client).DeleteVirtual, "deleted %s"),
			},
			"list": {
				usage:   "mfa list --user U | --inventory [--state S] | --virtual [--assignment A] [--json]",
				summary: "List a user's MFA devices, the hardware inventory, or the virtual devices.",
				flags: func(fs *pflag.FlagSet) {
					fs.String("user", "", "list this user's devices")
					fs.Bool("inventory", false, "list hardware tokens")
					fs.String("state", "", "with --inventory: available, assigned or lost")
					fs.Bool("virtual", false, "list virtual devices")
					fs.String("assignment", "Any", "with --virtual: Any, Assigned or Unassigned")
					fs.Bool("json", false, "print JSON")
					clientFlags(fs)
				},
				run: runMFAList,
			},
			"show": {
				usage:   "mfa show --serial S [--json]",
				summary: "Show one device (state, owner, drift, failures, tags; never its seed).",
				flags: func(fs *pflag.FlagSet) {
					deviceOnly(fs)
					fs.Bool("json", false, "print JSON")
				},
				run: runMFAShow,
			},
			"lost": {
				usage:   "mfa lost --serial S [--json]",
				summary: "Report a device lost or stolen: it is detached from every user and never usable again.",
				flags: func(fs *pflag.FlagSet) {
					deviceOnly(fs)
					fs.Bool("json", false, "print JSON")
				},
				run: func(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
					dev, err := deviceFlag(fs, args)
					if err != nil {
						return err
					}
					res, err := clientGet(env, fs, func(c *client.Client) (httpapi.LostResult, error) { return c.MarkLost(ctx, dev) })
					if err != nil {
						return err
					}
					if j, _ := fs.GetBool("json"); j {
						return printJSON(env.Stdout, res)
					}
					if len(res.DetachedFrom) == 0 {
						fmt.Fprintf(env.Stdout, "%s marked lost; it was not attached to any user\n", dev)
					} else {
						fmt.Fprintf(env.Stdout, "%s marked lost; detached from %s\n", dev, strings.Join(res.DetachedFrom, ", "))
					}
					return nil
				},
			},
			"unlock": {
				usage:   "mfa unlock --serial S",
				summary: "Clear a device's failure count and lock.",
				flags:   deviceOnly,
				run:     deviceAction((*client.Client).Unlock, "unlocked %s"),
			},
			"tag": {
				usage:   "mfa tag --serial S --tag K=V… | --untag K…",
				summary: "Add, replace (--tag) or remove (--untag) a device's tags.",
				flags: func(fs *pflag.FlagSet) {
					fs.String("serial", "", "device: a hardware serial or a virtual MFA ARN")
					fs.StringArray("tag", nil, "tag KEY=VALUE (repeatable)")
					fs.StringArray("untag", nil, "tag key to remove (repeatable)")
					clientFlags(fs)
				},
				run: runMFATag,
			},
		},
	})
}

// deviceFlag reads and checks --serial (a serial or an ARN).
func deviceFlag(fs *pflag.FlagSet, args []string) (string, error) {
	if len(args) > 0 {
		return "", usagef("unexpected argument %q", args[0])
	}
	dev, _ := fs.GetString("serial")
	if dev == "" {
		return "", usagef("--serial is required (a hardware serial or a virtual MFA ARN)")
	}
	if err := httpapi.ValidDevice(dev); err != nil {
		return "", badInput(errors.New(verifyMessage(err)))
	}
	return dev, nil
}

// deviceAction is the body of a verb that takes only --serial and makes one
// call with it; done, a format taking the device, is reported on stderr.
func deviceAction(call func(c *client.Client, ctx context.Context, dev string) error, done string) runFunc {
	return func(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
		dev, err := deviceFlag(fs, args)
		if err != nil {
			return err
		}
		return clientCall(env, fs, func(c *client.Client) error { return call(c, ctx, dev) }, done, dev)
	}
}

func userAndDevice(fs *pflag.FlagSet, args []string) (string, string, error) {
	dev, err := deviceFlag(fs, args)
	if err != nil {
		return "", "", err
	}
	user, _ := fs.GetString("user")
	if user == "" {
		return "", "", usagef("--user is required")
	}
	if err := httpapi.ValidUserName(user, 128); err != nil {
		return "", "", badInput(errors.New(verifyMessage(err)))
	}
	return user, dev, nil
}

func codeFlag(fs *pflag.FlagSet, name string) (string, error) {
	c, _ := fs.GetString(name)
	if c == "" {
		return "", usagef("--%s is required", name)
	}
	if err := httpapi.ValidCode("--"+name, c); err != nil {
		return "", badInput(errors.New(verifyMessage(err)))
	}
	return c, nil
}

// verifyMessage is a *verify.Error's message without the "verify: " prefix.
func verifyMessage(err error) string {
	var ve *verify.Error
	if errors.As(err, &ve) {
		return ve.Message
	}
	return err.Error()
}

// twoCodesAction is the body of enable and resync: call with the user, the
// device and two consecutive codes, then done ("enabled") on stderr.
func twoCodesAction(call func(c *client.Client, ctx context.Context, user, dev, code1, code2 string) error, done string) runFunc {
	return func(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
		user, dev, err := userAndDevice(fs, args)
		if err != nil {
			return err
		}
		c1, err := codeFlag(fs, "code1")
		if err != nil {
			return err
		}
		c2, err := codeFlag(fs, "code2")
		if err != nil {
			return err
		}
		c, err := newClient(env, fs)
		if err != nil {
			return err
		}
		if err := call(c, ctx, user, dev, c1, c2); err != nil {
			if verify.CodeOf(err) == verify.ECODE {
				return &HintError{Err: err, Hint: "give two consecutive codes, the second one period after the first; for a drifted device try 'tokenlab mfa resync'"}
			}
			return apiErr(err)
		}
		fmt.Fprintf(env.Stderr, "%s %s for %s\n", done, dev, user)
		return nil
	}
}

// RefusedError is a code check that came back refused: exit status 1.
type RefusedError struct{ Reason verify.Reason }

func (e *RefusedError) Error() string { return "code refused: " + string(e.Reason) }

func runCheck(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	user, dev, err := userAndDevice(fs, args)
	if err != nil {
		return err
	}
	code, err := codeFlag(fs, "code")
	if err != nil {
		return err
	}
	d, err := clientGet(env, fs, func(c *client.Client) (verify.Decision, error) { return c.Check(ctx, user, dev, code) })
	if err != nil {
		return err
	}
	if j, _ := fs.GetBool("json"); j {
		if err := printJSON(env.Stdout, d); err != nil {
			return err
		}
	} else if d.Accepted {
		fmt.Fprintln(env.Stdout, "accepted")
	}
	if !d.Accepted {
		re := &RefusedError{Reason: d.Reason}
		switch d.Reason {
		case verify.ReasonLocked:
			hint := "too many wrong codes; wait or run 'tokenlab mfa unlock --serial " + dev + "'"
			if !d.LockedUntil.IsZero() {
				hint = fmt.Sprintf("locked until %s after too many wrong codes; wait or run 'tokenlab mfa unlock'", d.LockedUntil.Format(time.RFC3339))
			}
			return &HintError{Err: re, Hint: hint}
		case verify.ReasonReplayed:
			return &HintError{Err: re, Hint: "each code is accepted once; wait for the next one"}
		case verify.ReasonNotEnabled:
			return &HintError{Err: re, Hint: "enable the device for this user first: tokenlab mfa enable"}
		}
		return re
	}
	return nil
}

func parseTags(list []string) (map[string]string, error) {
	if len(list) == 0 {
		return nil, nil
	}
	tags := map[string]string{}
	for _, t := range list {
		k, v, ok := strings.Cut(t, "=")
		if !ok || k == "" {
			return nil, usagef("--tag %q: want KEY=VALUE", t)
		}
		tags[k] = v
	}
	if err := httpapi.ValidTags(tags); err != nil {
		return nil, badInput(errors.New(verifyMessage(err)))
	}
	return tags, nil
}

func runCreateVirtual(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	req := httpapi.CreateVirtualRequest{}
	req.Name, _ = fs.GetString("name")
	req.Path, _ = fs.GetString("path")
	if req.Name == "" {
		return usagef("--name is required")
	}
	tl, _ := fs.GetStringArray("tag")
	tags, err := parseTags(tl)
	if err != nil {
		return err
	}
	req.Tags = tags
	qrPath, _ := fs.GetString("qr")
	b, err := clientGet(env, fs, func(c *client.Client) (httpapi.VirtualBootstrap, error) { return c.CreateVirtual(ctx, req) })
	if err != nil {
		return err
	}
	if qrPath != "" {
		if err := os.WriteFile(qrPath, b.QRPNG, 0o600); err != nil {
			return &HintError{Err: err, Hint: "the device was created; its seed is printed below, this once"}
		}
	}
	if j, _ := fs.GetBool("json"); j {
		return printJSON(env.Stdout, b)
	}
	fmt.Fprintf(env.Stdout, "device:  %s\nseed:    %s\nuri:     %s\n", b.Device.ID, b.SeedBase32, b.URI)
	if qrPath != "" {
		fmt.Fprintf(env.Stdout, "qr:      %s\n", qrPath)
	}
	fmt.Fprintln(env.Stderr, "this is the only time the seed is shown; enable the device with two consecutive codes: tokenlab mfa enable")
	return nil
}

func runMFAList(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	user, _ := fs.GetString("user")
	inv, _ := fs.GetBool("inventory")
	virt, _ := fs.GetBool("virtual")
	n := 0
	for _, b := range []bool{user != "", inv, virt} {
		if b {
			n++
		}
	}
	if n != 1 {
		return usagef("give exactly one of --user U, --inventory, --virtual")
	}
	c, err := newClient(env, fs)
	if err != nil {
		return err
	}
	state, _ := fs.GetString("state")
	assign, _ := fs.GetString("assignment")
	all, err := allPages(func(p verify.Page) ([]verify.Device, string, error) {
		var l httpapi.DeviceList
		var err error
		switch {
		case user != "":
			l, err = c.ListUserDevices(ctx, user, p)
		case inv:
			l, err = c.ListInventory(ctx, verify.State(state), p)
		default:
			l, err = c.ListVirtual(ctx, verify.Assignment(assign), p)
		}
		return l.Devices, l.NextMarker, err
	})
	if err != nil {
		return err
	}
	return printTable(env, fs, all, "DEVICE\tKIND\tSTATE\tUSER\tENABLED", func(d verify.Device) string {
		en := "-"
		if !d.EnabledAt.IsZero() {
			en = d.EnabledAt.Format(time.RFC3339)
		}
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s", d.ID, d.Kind, d.State, dash(d.User), en)
	})
}

func runMFAShow(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	dev, err := deviceFlag(fs, args)
	if err != nil {
		return err
	}
	d, err := clientGet(env, fs, func(c *client.Client) (verify.Device, error) { return c.GetDevice(ctx, dev) })
	if err != nil {
		return err
	}
	if j, _ := fs.GetBool("json"); j {
		return printJSON(env.Stdout, d)
	}
	fmt.Fprintf(env.Stdout, "device:    %s\nkind:      %s\nstate:     %s\n", d.ID, d.Kind, d.State)
	if d.User != "" {
		fmt.Fprintf(env.Stdout, "user:      %s\nenabled:   %s\n", d.User, d.EnabledAt.Format(time.RFC3339))
	}
	fmt.Fprintf(env.Stdout, "drift:     %d steps\nfailures:  %d\n", d.Drift, d.Failures)
	if !d.LockedUntil.IsZero() {
		fmt.Fprintf(env.Stdout, "locked:    until %s\n", d.LockedUntil.Format(time.RFC3339))
	}
	for k, v := range d.Tags {
		fmt.Fprintf(env.Stdout, "tag:       %s=%s\n", k, v)
	}
	return nil
}

func runMFATag(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	dev, err := deviceFlag(fs, args)
	if err != nil {
		return err
	}
	tl, _ := fs.GetStringArray("tag")
	keys, _ := fs.GetStringArray("untag")
	if (len(tl) == 0) == (len(keys) == 0) {
		return usagef("give --tag K=V… or --untag K…")
	}
	c, err := newClient(env, fs)
	if err != nil {
		return err
	}
	if len(tl) > 0 {
		tags, err := parseTags(tl)
		if err != nil {
			return err
		}
		return apiErr(c.TagDevice(ctx, dev, tags))
	}
	return apiErr(c.UntagDevice(ctx, dev, keys))
}
