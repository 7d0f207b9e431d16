package fidofw

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/cose"
)

// BenchmarkHandleGetAssertion is the firmware alone (no CTAPHID): the
// upper bound of any transport.
func BenchmarkHandleGetAssertion(b *testing.B) {
	a, err := New(Config{Flash: &MemFlash{}, Manufacturer: newTestAuthMfr2(b)})
	if err != nil {
		b.Fatal(err)
	}
	mc := &ctap.MakeCredentialRequest{ClientDataHash: hash32("c"), RP: ctap.RPEntity{ID: "example.com"},
		User: ctap.UserEntity{ID: []byte{1}}, PubKeyCredParams: []ctap.CredentialParam{{Type: "public-key", Alg: cose.AlgES256}}}
	resp := a.HandleCBOR(context.Background(), append([]byte{byte(ctap.CmdMakeCredential)}, mustEnc(mc)...), nil)
	var r ctap.MakeCredentialResponse
	if err := ctap.Unmarshal(resp[1:], &r); err != nil {
		b.Fatal(err)
	}
	id := r.AuthData[55 : 55+int(r.AuthData[53])<<8|int(r.AuthData[54])]
	ga := append([]byte{byte(ctap.CmdGetAssertion)}, mustEnc(&ctap.GetAssertionRequest{RPID: "example.com", ClientDataHash: hash32("g"),
		AllowList: []ctap.CredentialDescriptor{{Type: "public-key", ID: id}}})...)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	h := hash32("x")
	var opTime, rawTime time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; done += 32 {
		t0 := time.Now()
		for i := 0; i < 32; i++ {
			if r := a.HandleCBOR(context.Background(), ga, nil); r[0] != 0 {
				b.Fatal(r[0])
			}
		}
		opTime += time.Since(t0)
		b.StopTimer()
		t1 := time.Now()
		for i := 0; i < 32; i++ {
			ecdsa.SignASN1(rand.Reader, k, h)
		}
		rawTime += time.Since(t1)
		b.StartTimer()
	}
	b.ReportMetric(rawTime.Seconds()/opTime.Seconds(), "ratio-to-raw")
}

func newTestAuthMfr2(b *testing.B) *Manufacturer {
	newTestAuth(b)
	return fuzzMfr
}
