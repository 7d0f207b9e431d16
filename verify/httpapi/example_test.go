package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/httpapi"
)

// The API mounted as tokenlab serve mounts it, answering a check with a
// refused code: a normal 200 answer, not an error.
func ExampleNew() {
	v := newFake() // any verify.Verifier: verify.New(store, sealer, cfg) in tokenlab serve
	v.users["alice"] = verify.User{Name: "alice"}
	v.devices["GAHT00000017"] = &verify.Device{ID: "GAHT00000017", Kind: verify.KindHardware, State: verify.StateAssigned, User: "alice"}

	api := httpapi.New(v, httpapi.Config{})
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("/healthz", api.Health())
	mux.Handle("GET /metrics", api.Metrics())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, body := range []string{
		`{"user":"alice","device":"GAHT00000017","code":"654321"}`,
		`{"user":"alice","device":"GAHT00000017","code":"65432"}`,
	} {
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/mfa/check", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+fakeToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Print(resp.StatusCode, " ", string(b))
	}
	// Output:
	// 200 {"accepted":false,"reason":"replayed"}
	// 400 {"error":{"code":"invalid","message":"code must be 6 or 8 digits, got 5 characters"}}
}

func ExampleStatusOf() {
	for _, c := range []verify.ErrorCode{verify.EINVALID, verify.ENOTFOUND, verify.ELIMIT, verify.ELOCKED} {
		fmt.Println(c, httpapi.StatusOf(c))
	}
	// Output:
	// invalid 400
	// not_found 404
	// limit 409
	// locked 429
}
