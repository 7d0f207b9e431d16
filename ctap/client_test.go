package ctap

import (
	"bytes"
	"context"
	"testing"

	"github.com/tokenlab/tokenlab/ctap/pinuv"
)

// recorder answers with resp and keeps the requests.
type recorder struct {
	reqs [][]byte
	resp []byte
}

func (r *recorder) CBOR(_ context.Context, req []byte) ([]byte, error) {
	r.reqs = append(r.reqs, req)
	return r.resp, nil
}
func (r *recorder) Msg(ctx context.Context, req []byte) ([]byte, error) { return r.CBOR(ctx, req) }

func TestCredMgmtRequests(t *testing.T) {
	one := uint(1)
	ok, _ := Marshal(&CredMgmtResponse{ExistingResidentCredentialsCount: &one, MaxPossibleRemainingResidentCredentialsCount: &one})
	rec := &recorder{resp: append([]byte{0}, ok...)}
	c := NewClient(rec)
	tok := &Token{Protocol: pinuv.Protocol2{}, Token: bytes.Repeat([]byte{7}, 32)}
	if _, _, err := c.CredsMetadata(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	c.UseInfo(&GetInfoResponse{Options: map[string]bool{OptCredMgmtPre: true}})
	if _, _, err := c.CredsMetadata(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if rec.reqs[0][0] != byte(CmdCredentialManagement) || rec.reqs[1][0] != byte(CmdCredentialManagementPreview) {
		t.Fatalf("command bytes %#x %#x", rec.reqs[0][0], rec.reqs[1][0])
	}
	// pinUvAuthParam = authenticate(token, subCommand) for getCredsMetadata (CTAP 2.1 §6.8.2).
	var req CredMgmtRequest
	if err := Unmarshal(rec.reqs[0][1:], &req); err != nil {
		t.Fatal(err)
	}
	if req.SubCommand != CredMgmtGetCredsMetadata || req.PinUvAuthProtocol != 2 ||
		!bytes.Equal(req.PinUvAuthParam, pinuv.Protocol2{}.Authenticate(tok.Token, []byte{0x01})) {
		t.Fatalf("%+v", req)
	}
	// With params: authenticate(token, subCommand || CBOR(params)).
	rec.reqs = nil
	c.DeleteCredential(context.Background(), tok, []byte{9})
	Unmarshal(rec.reqs[0][1:], &req)
	params, _ := Marshal(&CredMgmtParams{CredentialID: &CredentialDescriptor{Type: "public-key", ID: []byte{9}}})
	if !bytes.Equal(req.PinUvAuthParam, pinuv.Protocol2{}.Authenticate(tok.Token, append([]byte{0x06}, params...))) {
		t.Fatal("deleteCredential pinUvAuthParam")
	}
}
