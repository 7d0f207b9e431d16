// Command tokenlab emulates, provisions, verifies and tests MFA hardware.
// Run "tokenlab help" for the command groups.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tokenlab/tokenlab/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.OSEnv())
	stop()
	os.Exit(code)
}
