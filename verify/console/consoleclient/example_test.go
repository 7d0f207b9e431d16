package consoleclient_test

import (
	"context"
	"fmt"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/ctap/udp"
	"github.com/tokenlab/tokenlab/verify/console/consoleclient"
)

// Register the simulated key of "tokenlab fido emulate" for alice, then
// sign in with it, as "tokenlab fido enroll" and "fido login" do.
func Example() {
	ctx := context.Background()
	conn, err := udp.Dial(udp.DefaultDevice, "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ch, err := ctaphid.NewDevice(conn).Open(ctx)
	if err != nil {
		panic(err)
	}
	key := ctap.NewClient(ch)

	c, _ := consoleclient.New("http://localhost:8080")
	if _, err := c.SignIn(ctx, "alice", "correct horse battery"); err != nil {
		panic(err)
	}
	arn, err := c.Enroll(ctx, key, "simulated-key")
	if err != nil {
		panic(err)
	}
	fmt.Println("registered", arn)

	c.SignOut(ctx)
	st, _ := c.SignIn(ctx, "alice", "correct horse battery")
	if st.NeedMFA {
		used, err := c.Login(ctx, key)
		fmt.Println("signed in with", used, err)
	}
}
