package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/client"
	"github.com/tokenlab/tokenlab/verify/httpapi"
)

func init() {
	register(&group{
		name:    "audit",
		summary: "show the verifier's audit log (client of tokenlab serve)",
		verbs: map[string]*command{"": {
			usage:   "audit [--user U] [--device D] [--action A] [--since RFC3339|DURATION] [--limit N] [--json]",
			summary: "Show audit events, newest last: who did what to which device, and the outcome. Never a code or seed.",
			example: "  tokenlab audit --user alice --since 1h\n  tokenlab audit --device GAHT00000017 --json",
			flags: func(fs *pflag.FlagSet) {
				fs.String("user", "", "only events about this user")
				fs.String("device", "", "only events about this device (serial or ARN)")
				fs.String("action", "", "only this action (enable, check, resync, deactivate, lost, unlock, …)")
				fs.String("since", "", "only events after this time (RFC 3339) or this long ago (e.g. 1h)")
				fs.Int("limit", 100, "at most this many events (1 to 1000)")
				fs.Bool("json", false, "print JSON")
				clientFlags(fs)
			},
			run: runAudit,
		}},
	})
}

func runAudit(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usagef("audit: unexpected argument %q", args[0])
	}
	var f verify.AuditFilter
	f.User, _ = fs.GetString("user")
	f.Device, _ = fs.GetString("device")
	f.Action, _ = fs.GetString("action")
	f.Limit, _ = fs.GetInt("limit")
	if f.Limit < 1 || f.Limit > httpapi.MaxPage {
		return usagef("--limit must be 1 to %d", httpapi.MaxPage)
	}
	if f.Device != "" {
		if err := httpapi.ValidDevice(f.Device); err != nil {
			return badInput(errors.New(verifyMessage(err)))
		}
	}
	if s, _ := fs.GetString("since"); s != "" {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			f.Since = t
		} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
			f.Since = env.Now().Add(-d)
		} else {
			return usagef("--since %q: want an RFC 3339 time or a duration such as 1h", s)
		}
	}
	evs, err := clientGet(env, fs, func(c *client.Client) ([]verify.AuditEvent, error) { return c.Audit(ctx, f) })
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []verify.AuditEvent{}
	}
	return printTable(env, fs, evs, "TIME\tACTOR\tSOURCE\tACTION\tUSER\tDEVICE\tOUTCOME\tREASON", func(e verify.AuditEvent) string {
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", e.Time.UTC().Format(time.RFC3339), dash(e.Actor), dash(e.Source), e.Action, dash(e.User), dash(e.Device), e.Outcome, dash(e.Reason))
	})
}
