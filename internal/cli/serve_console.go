package cli

import (
	"log/slog"
	"net/http"
	"os"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/console"
)

// consoleOriginEnv names the web console's origin (https://mfa.example.com)
// when it is served beyond this machine; unset, the console follows the
// request's Host (and sends 127.0.0.1 to localhost, a valid WebAuthn RP ID).
const consoleOriginEnv = "TOKENLAB_CONSOLE_ORIGIN"

// newConsole returns the web console for tokenlab serve's /console/.
func newConsole(v verify.Verifier, log *slog.Logger) http.Handler {
	c, err := console.New(v, console.Config{Origin: os.Getenv(consoleOriginEnv), Logger: log})
	if err != nil {
		log.Error("web console disabled", "err", err.Error(), "hint", "fix "+consoleOriginEnv)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "tokenlab: the web console is disabled: "+err.Error(), http.StatusServiceUnavailable)
		})
	}
	return c
}
