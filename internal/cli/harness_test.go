package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// The in-process harness: every CLI test runs Main with an Env of its own
// instead of a child process, either from Go (runCLI) or from a testscript
// file (runScripts).

// runCLI runs one tokenlab command line in-process and returns its exit
// status and what it wrote. env gives what the test cares about (Stdin,
// Getenv, Now); its Stdout and Stderr are replaced by buffers, and what it
// leaves nil reads as an empty stdin, an empty environment, the real
// clock and no terminal.
func runCLI(t *testing.T, env Env, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env.Stdout, env.Stderr = &out, &errb
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.IsTerminal == nil {
		env.IsTerminal = func(io.Writer) bool { return false }
	}
	code = Main(context.Background(), args, &env)
	return code, out.String(), errb.String()
}

// scriptCmd is a testscript command.
type scriptCmd = func(ts *testscript.TestScript, neg bool, args []string)

// runScripts runs the testscript files matching pattern. Each script gets
// setup (nil: none) and the commands in cmds, plus "tokenlab", which runs
// in-process with the script's environment and appends "[exit N]" to
// stderr so scripts can check the exit status. Paths must be absolute
// ($WORK/...), since the in-process command does not change directory.
func runScripts(t *testing.T, pattern string, setup func(*testscript.Env) error, cmds map[string]scriptCmd) {
	t.Helper()
	all := map[string]scriptCmd{"tokenlab": scriptTokenlab}
	for name, c := range cmds {
		all[name] = c
	}
	testscript.Run(t, testscript.Params{
		Files: globTxtar(t, pattern),
		Setup: setup,
		Cmds:  all,
	})
}

// scriptTokenlab is the testscript command "tokenlab".
func scriptTokenlab(ts *testscript.TestScript, neg bool, args []string) {
	env := &Env{
		Stdin: strings.NewReader(""), Stdout: ts.Stdout(), Stderr: ts.Stderr(),
		Getenv: ts.Getenv, Now: time.Now,
		IsTerminal: func(io.Writer) bool { return false },
	}
	code := Main(context.Background(), args, env)
	fmt.Fprintf(ts.Stderr(), "[exit %d]\n", code)
	if (code != 0) != neg {
		ts.Fatalf("tokenlab %s: exit %d", strings.Join(args, " "), code)
	}
}

// setupHome gives each script an emulated-device home in its work
// directory.
func setupHome(e *testscript.Env) error {
	e.Setenv("TOKENLAB_HOME", e.WorkDir+"/home")
	return nil
}

func globTxtar(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts match %s: %v", pattern, err)
	}
	return files
}
