// Package cli implements the tokenlab command line: "tokenlab GROUP VERB
// [flags]". Each command group lives in a file of its own and registers
// itself with [register] from an init function.
//
// Output rules, for every command:
//   - results go to stdout; progress, warnings and errors to stderr;
//   - errors read "tokenlab: error: …", optionally followed by "tokenlab: hint: …";
//   - every read command takes --json and then prints exactly one JSON value;
//   - exit status 0 is success, 1 a failed operation, 2 bad usage or bad input;
//   - a seed is printed only by commands whose job is to hand it out
//     (fob export, mfa create-virtual's bootstrap), never in an error.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
)

// Env is what a command may touch of the outside world, so tests run
// commands in-process with buffers and a fake environment.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	Now    func() time.Time
	// IsTerminal reports whether w is an interactive terminal (progress bars).
	IsTerminal func(w io.Writer) bool
}

// OSEnv is the process's own environment.
func OSEnv() *Env {
	return &Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Getenv: os.Getenv, Now: time.Now,
		IsTerminal: isTerminal,
	}
}

// group is a command group such as "fob" or "provision".
type group struct {
	name    string
	summary string
	// verbs maps a verb to its command; a group with a single command
	// (serve, version) has one verb "".
	verbs map[string]*command
}

type command struct {
	usage   string // "fob press SERIAL [--at RFC3339] [--json]"
	summary string
	example string
	run     runFunc
	flags   func(fs *pflag.FlagSet)
}

// runFunc is a command's body: fs holds the parsed flags, args what is
// left of the command line.
type runFunc = func(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error

var groups = map[string]*group{}

// register adds a command group; called from init functions.
func register(g *group) {
	if _, dup := groups[g.name]; dup {
		panic("cli: group registered twice: " + g.name)
	}
	groups[g.name] = g
}

// UsageError is bad usage or bad input: exit status 2.
type UsageError struct {
	Err  error
	Hint string
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// usagef returns a UsageError.
func usagef(format string, a ...any) error { return &UsageError{Err: fmt.Errorf(format, a...)} }

// badInput wraps err (a parse or validation failure) as a UsageError.
func badInput(err error) error {
	if err == nil {
		return nil
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		return err
	}
	return &UsageError{Err: err}
}

// HintError carries a hint printed after the error.
type HintError struct {
	Err  error
	Hint string
}

func (e *HintError) Error() string { return e.Err.Error() }
func (e *HintError) Unwrap() error { return e.Err }

// Main runs one tokenlab command line and returns the exit status.
func Main(ctx context.Context, args []string, env *Env) int {
	err := run(ctx, args, env)
	if err == nil {
		return 0
	}
	fmt.Fprintf(env.Stderr, "tokenlab: error: %v\n", err)
	var ue *UsageError
	var he *HintError
	switch {
	case errors.As(err, &ue):
		if ue.Hint != "" {
			fmt.Fprintf(env.Stderr, "tokenlab: hint: %s\n", ue.Hint)
		}
		return 2
	case errors.As(err, &he):
		fmt.Fprintf(env.Stderr, "tokenlab: hint: %s\n", he.Hint)
	}
	return 1
}

func run(ctx context.Context, args []string, env *Env) error {
	if len(args) == 0 {
		printHelp(env.Stderr)
		return usagef("no command given")
	}
	name := args[0]
	switch name {
	case "help", "-h", "--help":
		if len(args) > 1 {
			g, ok := groups[args[1]]
			if !ok {
				return &UsageError{Err: fmt.Errorf("unknown command %q", args[1]), Hint: "run 'tokenlab help' for the list"}
			}
			printGroupHelp(env.Stdout, g)
			return nil
		}
		printHelp(env.Stdout)
		return nil
	case "version", "--version":
		fmt.Fprintln(env.Stdout, "tokenlab", Version())
		return nil
	}
	g, ok := groups[name]
	if !ok {
		return &UsageError{Err: fmt.Errorf("unknown command %q", name), Hint: "run 'tokenlab help' for the list"}
	}
	rest := args[1:]
	cmd, verbless := g.verbs[""]
	verb := ""
	if !verbless {
		if len(rest) == 0 || rest[0] == "-h" || rest[0] == "--help" || rest[0] == "help" {
			printGroupHelp(env.Stdout, g)
			if len(rest) == 0 {
				return &UsageError{Err: fmt.Errorf("%s: no verb given", name)}
			}
			return nil
		}
		verb = rest[0]
		rest = rest[1:]
		cmd, ok = g.verbs[verb]
		if !ok {
			return &UsageError{Err: fmt.Errorf("%s: unknown verb %q", name, verb), Hint: fmt.Sprintf("run 'tokenlab help %s' for its verbs", name)}
		}
	}
	full := strings.TrimSpace(name + " " + verb)
	fs := pflag.NewFlagSet("tokenlab "+full, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	help := fs.BoolP("help", "h", false, "show this help")
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	if err := fs.Parse(rest); err != nil {
		return &UsageError{Err: fmt.Errorf("%s: %v", full, err), Hint: fmt.Sprintf("usage: tokenlab %s", cmd.usage)}
	}
	if *help {
		printCommandHelp(env.Stdout, cmd, fs)
		return nil
	}
	return cmd.run(ctx, env, fs, fs.Args())
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "tokenlab: emulate, provision, verify and test MFA hardware")
	fmt.Fprintln(w, "\nUsage: tokenlab <command> [verb] [flags]\n\nCommands:")
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, groups[n].summary)
	}
	fmt.Fprintf(w, "  %-10s %s\n  %-10s %s\n", "help", "show help for a command", "version", "print the version")
	fmt.Fprintln(w, "\nRun 'tokenlab help <command>' for a command's verbs and flags.")
}

func printGroupHelp(w io.Writer, g *group) {
	fmt.Fprintf(w, "tokenlab %s: %s\n\n", g.name, g.summary)
	verbs := make([]string, 0, len(g.verbs))
	for v := range g.verbs {
		verbs = append(verbs, v)
	}
	sort.Strings(verbs)
	for _, v := range verbs {
		c := g.verbs[v]
		fmt.Fprintf(w, "  tokenlab %s\n      %s\n", c.usage, c.summary)
	}
}

func printCommandHelp(w io.Writer, c *command, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "Usage: tokenlab %s\n\n%s\n\nFlags:\n%s", c.usage, c.summary, fs.FlagUsages())
	if c.example != "" {
		fmt.Fprintf(w, "\nExamples:\n%s\n", c.example)
	}
}

// Version is the module version, or "devel".
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// printJSON writes v as indented JSON and a newline.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printTable prints rows on stdout as one JSON value with --json, else as
// a table aligned with spaces: header, then line of each row (cells
// separated by tabs).
func printTable[T any](env *Env, fs *pflag.FlagSet, rows []T, header string, line func(T) string) error {
	if j, _ := fs.GetBool("json"); j {
		return printJSON(env.Stdout, rows)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, line(r))
	}
	return tw.Flush()
}

// dash is a table cell: s, or "-" when s is empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// homeDir is where emulated devices live: --home, then TOKENLAB_HOME, then
// $XDG_DATA_HOME/tokenlab, then ~/.local/share/tokenlab.
func homeDir(env *Env, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if h := env.Getenv("TOKENLAB_HOME"); h != "" {
		return h, nil
	}
	if x := env.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "tokenlab"), nil
	}
	if h := env.Getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "share", "tokenlab"), nil
	}
	return "", &UsageError{Err: errors.New("no home directory for emulated devices"), Hint: "set --home or TOKENLAB_HOME"}
}
