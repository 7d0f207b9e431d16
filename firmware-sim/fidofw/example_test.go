package fidofw_test

import (
	"context"
	"fmt"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/firmware-sim/fidofw"
)

// A key on a blank flash is made at first boot; HandleCBOR takes a CTAP2
// request as CTAPHID_CBOR carries it.
func Example() {
	a, err := fidofw.New(fidofw.Config{Flash: fidofw.NewHWFlash(), Presence: fidofw.Approve()})
	if err != nil {
		panic(err)
	}
	resp := a.HandleCBOR(context.Background(), []byte{byte(ctap.CmdGetInfo)}, nil)
	var info ctap.GetInfoResponse
	if err := ctap.Unmarshal(resp[1:], &info); err != nil {
		panic(err)
	}
	fmt.Println(ctap.Status(resp[0]).String(), info.Versions, info.PinUvAuthProtocols)
	// Output: CTAP2_OK [U2F_V2 FIDO_2_0 FIDO_2_1] [2 1]
}

// The CTAPHID device side: feed it input reports, it calls send with
// output reports.
func ExampleNewHID() {
	a, _ := fidofw.New(fidofw.Config{Flash: &fidofw.MemFlash{}})
	out := make(chan ctaphid.Packet, 8)
	h := fidofw.NewHID(a, func(p ctaphid.Packet) { out <- p })
	req := ctaphid.InitPacket(ctaphid.BroadcastCID, ctaphid.CmdInit, 8, []byte("nonce-01"))
	h.Receive(req[:])
	p := <-out
	r, _ := ctaphid.ParseInitResponse(p[ctaphid.InitHeaderLen:])
	fmt.Println(p.Cmd(), string(r.Nonce[:]), r.CID != ctaphid.BroadcastCID, r.Capabilities)
	// Output: INIT nonce-01 true WINK|CBOR
}
