package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/client"
	"github.com/tokenlab/tokenlab/verify/httpapi"
)

// Client commands (user, mfa, audit, provision import) reach a server with
// --server (env TOKENLAB_SERVER, default http://127.0.0.1:8080) and a bearer
// token from --token, --token-file, env TOKENLAB_TOKEN, or the admin.token a
// local "tokenlab serve" wrote into ./tokenlab-data, in that order.

const defaultServer = "http://127.0.0.1:8080"

func clientFlags(fs *pflag.FlagSet) {
	fs.String("server", "", "verifier URL (env TOKENLAB_SERVER, default "+defaultServer+")")
	fs.String("token", "", "API bearer token (env TOKENLAB_TOKEN; prefer --token-file: flags show in ps)")
	fs.String("token-file", "", "file holding the API token (default ./"+defaultDataDir+"/"+adminTokenFile+" if present)")
}

// newClient builds the API client from the client flags and environment.
func newClient(env *Env, fs *pflag.FlagSet) (*client.Client, error) {
	server, _ := fs.GetString("server")
	if server == "" {
		server = env.Getenv("TOKENLAB_SERVER")
	}
	if server == "" {
		server = defaultServer
	}
	tok, _ := fs.GetString("token")
	tokFile, _ := fs.GetString("token-file")
	if tok != "" && tokFile != "" {
		return nil, usagef("give --token or --token-file, not both")
	}
	if tok == "" && tokFile != "" {
		b, err := os.ReadFile(tokFile)
		if err != nil {
			return nil, badInput(fmt.Errorf("--token-file: %w", err))
		}
		tok = strings.TrimSpace(string(b))
	}
	if tok == "" {
		tok = env.Getenv("TOKENLAB_TOKEN")
	}
	if tok == "" {
		if b, err := os.ReadFile(filepath.Join(".", defaultDataDir, adminTokenFile)); err == nil {
			tok = strings.TrimSpace(string(b))
		}
	}
	c, err := client.New(server, tok, nil)
	if err != nil {
		return nil, badInput(err)
	}
	return c, nil
}

// apiErr turns a client error into the CLI's: bad input from the server is
// exit 2, a refused operation exit 1, each with a hint where one helps.
func apiErr(err error) error {
	if err == nil {
		return nil
	}
	var ce *client.Error
	if errors.As(err, &ce) {
		switch ce.Err.Code {
		case verify.EINVALID:
			return &UsageError{Err: err}
		case verify.EUNAUTHORIZED:
			return &HintError{Err: err, Hint: "pass the API token with --token-file (tokenlab serve writes tokenlab-data/admin.token) or TOKENLAB_TOKEN"}
		case verify.ELOCKED:
			return &HintError{Err: err, Hint: "wait, or run 'tokenlab mfa unlock --serial S'"}
		}
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) {
		return &HintError{Err: err, Hint: "start the verifier with 'tokenlab serve', or point --server (TOKENLAB_SERVER) at it"}
	}
	return err
}

// clientCall makes one API call with the client the flags select and, when
// it succeeds, reports what it did on stderr; a failed call goes through
// apiErr.
func clientCall(env *Env, fs *pflag.FlagSet, call func(*client.Client) error, format string, a ...any) error {
	c, err := newClient(env, fs)
	if err != nil {
		return err
	}
	if err := call(c); err != nil {
		return apiErr(err)
	}
	fmt.Fprintf(env.Stderr, format+"\n", a...)
	return nil
}

// clientGet makes one API call with the client the flags select and
// returns its answer; a failed call goes through apiErr.
func clientGet[T any](env *Env, fs *pflag.FlagSet, call func(*client.Client) (T, error)) (T, error) {
	var zero T
	c, err := newClient(env, fs)
	if err != nil {
		return zero, err
	}
	v, err := call(c)
	if err != nil {
		return zero, apiErr(err)
	}
	return v, nil
}

// allPages calls list with each page's marker until the last page and
// returns every item (never nil); a failed call goes through apiErr.
func allPages[T any](list func(verify.Page) (items []T, next string, err error)) ([]T, error) {
	all := []T{}
	p := verify.Page{Max: httpapi.MaxPage}
	for {
		items, next, err := list(p)
		if err != nil {
			return nil, apiErr(err)
		}
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		p.Marker = next
	}
}

// readSecretFile reads a password (first line) from a file, or stdin for "-".
func readSecretFile(env *Env, path string) (string, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(env.Stdin, 4096))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", badInput(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return "", usagef("the password file is empty")
	}
	return line, nil
}

func oneArg(args []string, what string) (string, error) {
	if len(args) != 1 {
		return "", usagef("want exactly one %s", what)
	}
	return args[0], nil
}

func init() {
	// user.go sorts after provision.go, so the provision group exists here.
	attachProvisionImport()
	register(&group{
		name:    "user",
		summary: "manage the verifier's users (client of tokenlab serve)",
		verbs: map[string]*command{
			"add": {
				usage:   "user add NAME [--path /P/] [--password-file F|-] [--admin] [--require-mfa] [--json]",
				summary: "Create a user.",
				example: "  tokenlab user add alice --require-mfa\n  echo 's3cret' | tokenlab user add bob --password-file -",
				flags: func(fs *pflag.FlagSet) {
					fs.String("path", "", "IAM path, /…/ (default /)")
					fs.String("password-file", "", "file holding the console password (- for stdin)")
					fs.Bool("admin", false, "make the user an administrator")
					fs.Bool("require-mfa", false, "allow IAM actions only with an MFA session")
					fs.Bool("json", false, "print JSON")
					clientFlags(fs)
				},
				run: runUserAdd,
			},
			"list": {
				usage:   "user list [--path-prefix /P/] [--json]",
				summary: "List users.",
				flags: func(fs *pflag.FlagSet) {
					fs.String("path-prefix", "", "only users under this path")
					fs.Bool("json", false, "print JSON")
					clientFlags(fs)
				},
				run: runUserList,
			},
			"show": {
				usage:   "user show NAME [--json]",
				summary: "Show a user and their MFA devices.",
				flags: func(fs *pflag.FlagSet) {
					fs.Bool("json", false, "print JSON")
					clientFlags(fs)
				},
				run: runUserShow,
			},
			"rm": {
				usage:   "user rm NAME",
				summary: "Delete a user (deactivate their MFA devices first).",
				flags:   clientFlags,
				run: func(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
					name, err := oneArg(args, "user name")
					if err != nil {
						return err
					}
					return clientCall(env, fs, func(c *client.Client) error { return c.DeleteUser(ctx, name) },
						"deleted user %s", name)
				},
			},
			"passwd": {
				usage:   "user passwd NAME --password-file F|-",
				summary: "Set a user's console password (read from a file or stdin, never a flag).",
				flags: func(fs *pflag.FlagSet) {
					fs.String("password-file", "-", "file holding the password (- for stdin)")
					clientFlags(fs)
				},
				run: func(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
					name, err := oneArg(args, "user name")
					if err != nil {
						return err
					}
					pf, _ := fs.GetString("password-file")
					pw, err := readSecretFile(env, pf)
					if err != nil {
						return err
					}
					return clientCall(env, fs, func(c *client.Client) error { return c.SetPassword(ctx, name, pw) },
						"password set for %s", name)
				},
			},
			"require-mfa": {
				usage:   "user require-mfa NAME [--off]",
				summary: "Require an MFA session for the user's IAM actions (--off lifts it).",
				flags: func(fs *pflag.FlagSet) {
					fs.Bool("off", false, "stop requiring MFA")
					clientFlags(fs)
				},
				run: func(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
					name, err := oneArg(args, "user name")
					if err != nil {
						return err
					}
					off, _ := fs.GetBool("off")
					return clientCall(env, fs, func(c *client.Client) error { return c.SetRequireMFA(ctx, name, !off) },
						"%s: require MFA %v", name, !off)
				},
			},
		},
	})
}

func runUserAdd(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	name, err := oneArg(args, "user name")
	if err != nil {
		return err
	}
	req := httpapi.CreateUserRequest{Name: name}
	req.Path, _ = fs.GetString("path")
	req.Admin, _ = fs.GetBool("admin")
	req.RequireMFA, _ = fs.GetBool("require-mfa")
	if pf, _ := fs.GetString("password-file"); pf != "" {
		if req.Password, err = readSecretFile(env, pf); err != nil {
			return err
		}
	}
	u, err := clientGet(env, fs, func(c *client.Client) (verify.User, error) { return c.CreateUser(ctx, req) })
	if err != nil {
		return err
	}
	if j, _ := fs.GetBool("json"); j {
		return printJSON(env.Stdout, u)
	}
	fmt.Fprintf(env.Stdout, "%s\t%s\n", u.Name, u.Arn)
	return nil
}

func runUserList(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usagef("user list takes no arguments")
	}
	prefix, _ := fs.GetString("path-prefix")
	c, err := newClient(env, fs)
	if err != nil {
		return err
	}
	all, err := allPages(func(p verify.Page) ([]verify.User, string, error) {
		l, err := c.ListUsers(ctx, prefix, p)
		return l.Users, l.NextMarker, err
	})
	if err != nil {
		return err
	}
	return printTable(env, fs, all, "NAME\tPATH\tADMIN\tREQUIRE-MFA\tCREATED", func(u verify.User) string {
		return fmt.Sprintf("%s\t%s\t%v\t%v\t%s", u.Name, u.Path, u.Admin, u.RequireMFA, u.CreatedAt.Format(time.RFC3339))
	})
}

// userDetail is what user show prints.
type userDetail struct {
	verify.User
	Devices []verify.Device `json:"devices"`
}

func runUserShow(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	name, err := oneArg(args, "user name")
	if err != nil {
		return err
	}
	c, err := newClient(env, fs)
	if err != nil {
		return err
	}
	u, err := c.GetUser(ctx, name)
	if err != nil {
		return apiErr(err)
	}
	devs, err := c.ListUserDevices(ctx, name, verify.Page{Max: httpapi.MaxPage})
	if err != nil {
		return apiErr(err)
	}
	d := userDetail{User: u, Devices: devs.Devices}
	if j, _ := fs.GetBool("json"); j {
		return printJSON(env.Stdout, d)
	}
	fmt.Fprintf(env.Stdout, "name:         %s\nid:           %s\narn:          %s\npath:         %s\nadmin:        %v\nrequire MFA:  %v\ncreated:      %s\n",
		u.Name, u.ID, u.Arn, u.Path, u.Admin, u.RequireMFA, u.CreatedAt.Format(time.RFC3339))
	fmt.Fprintf(env.Stdout, "MFA devices:  %d of %d\n", len(d.Devices), verify.MaxDevicesPerUser)
	for _, dv := range d.Devices {
		fmt.Fprintf(env.Stdout, "  %s\t%s\tenabled %s\n", dv.ID, dv.Kind, dv.EnabledAt.Format(time.RFC3339))
	}
	return nil
}
