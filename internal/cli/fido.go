package cli

// The "fido" group: the host side of FIDO (package ctap) against a real
// security key over USB HID or a simulated one over UDP.
//
// Verbs are added with addFidoVerb from init functions, so the group's
// verbs can live in several files: fido.go (list, info, reset, pin, creds,
// test) and fido_emulate.go (emulate, owned by the authenticator side).

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

func init() { register(fidoGroup) }
