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

// TestProvisionScripts runs testdata/provision*.txtar. The command
// "tokenlab" runs in-process with the script's environment; it appends
// "[exit N]" to stderr so scripts can check the exit status. Paths must be
// absolute ($WORK/...), since the in-process command does not change
// directory.
func TestProvisionScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Files: globTxtar(t, "testdata/provision*.txtar"),
		Setup: func(e *testscript.Env) error {
			e.Setenv("TOKENLAB_HOME", e.WorkDir+"/home")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"tokenlab": func(ts *testscript.TestScript, neg bool, args []string) {
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
			},
		},
	})
}

func globTxtar(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts match %s: %v", pattern, err)
	}
	return files
}

// The progress bar shows on a terminal and nowhere else.
func TestProvisionProgressOnlyOnTerminal(t *testing.T) {
	for _, term := range []bool{false, true} {
		dir := t.TempDir()
		var out, errb bytes.Buffer
		env := &Env{
			Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
			Getenv: func(string) string { return "" }, Now: time.Now,
			IsTerminal: func(io.Writer) bool { return term },
		}
		code := Main(context.Background(), []string{"provision", "batch", "--model", "keyfob", "--count", "5000", "--prefix", "GAHT", "--out", dir + "/b.csv", "--format", "csv"}, env)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		if term && errb.Len() == 0 {
			t.Error("no progress bar on a terminal")
		}
		if !term && errb.Len() != 0 {
			t.Errorf("output on a non-terminal stderr: %q", errb.String())
		}
	}
}
