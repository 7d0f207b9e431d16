package ctap

import (
	"context"
	"testing"

	"github.com/tokenlab/tokenlab/ctap/pinuv"
	"github.com/tokenlab/tokenlab/ctap/u2f"
)

// replay answers every request with the same bytes.
type replay []byte

func (r replay) CBOR(context.Context, []byte) ([]byte, error) { return r, nil }
func (r replay) Msg(context.Context, []byte) ([]byte, error)  { return r, nil }

// FuzzClientResponses gives every client call the same arbitrary
// response: the client must fail or return a value, never panic or loop
// without bound.
func FuzzClientResponses(f *testing.F) {
	ok := func(v any) []byte {
		b, _ := Marshal(v)
		return append([]byte{0}, b...)
	}
	one := uint(1)
	f.Add(ok(&GetInfoResponse{Versions: []string{VersionFIDO21}, AAGUID: make([]byte, 16), PinUvAuthProtocols: []uint{2}}))
	f.Add(ok(&GetAssertionResponse{AuthData: make([]byte, 37), Signature: []byte{1}, NumberOfCredentials: 3}))
	f.Add(ok(&ClientPINResponse{PINRetries: &one, PinUvAuthToken: make([]byte, 48), KeyAgreement: &COSEKey{Kty: 2, Crv: 1, X: make([]byte, 32), Y: make([]byte, 32)}}))
	f.Add(ok(&CredMgmtResponse{TotalRPs: 5, RP: &RPEntity{ID: "x"}, RPIDHash: make([]byte, 32)}))
	f.Add(ok(&CredMgmtResponse{TotalCredentials: 1000, User: &UserEntity{ID: []byte{1}}, CredentialID: &CredentialDescriptor{ID: []byte{1}}}))
	f.Add([]byte{byte(ErrPINInvalid)})
	f.Add(u2f.Response([]byte{5}, u2f.SWNoError))
	f.Fuzz(func(t *testing.T, resp []byte) {
		c := NewClient(replay(resp))
		ctx := context.Background()
		c.GetInfo(ctx)
		c.MakeCredential(ctx, &MakeCredentialRequest{})
		c.GetAssertion(ctx, &GetAssertionRequest{})
		c.GetNextAssertion(ctx)
		c.PINRetries(ctx)
		c.UVRetries(ctx)
		for _, p := range []pinuv.Protocol{pinuv.Protocol1{}, pinuv.Protocol2{}} {
			if tok, err := c.PINToken(ctx, p, "1234", 0, ""); err == nil && tok == nil {
				t.Fatal("nil token without error")
			}
			tok := &Token{Protocol: p, Token: make([]byte, 32)}
			c.RPs(ctx, tok)
			c.Credentials(ctx, tok, make([]byte, 32))
			c.CredsMetadata(ctx, tok)
		}
		c.U2FVersion(ctx)
		c.U2FAuthenticate(ctx, u2f.AuthEnforce, [32]byte{}, [32]byte{}, []byte{1})
		ctx2, cancel := context.WithCancel(ctx)
		cancel() // a register waiting for a touch stops with the context
		c.U2FRegister(ctx2, [32]byte{}, [32]byte{})
	})
}
