package iamapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/iamapi"
)

// addFIDO registers a FIDO security key for user the way the console does
// once a WebAuthn registration ceremony has verified it
// (verify.Service.AddFIDO), and returns its u2f ARN.
func (e *env) addFIDO(user, keyName string) string {
	e.t.Helper()
	svc, ok := e.v.(*verify.Service)
	if !ok {
		e.t.Fatalf("the verifier is a %T, not a *verify.Service", e.v)
	}
	c, err := svc.AddFIDO(bg, user, keyName, verify.FIDOCredential{
		ID: []byte("credential-" + keyName), PublicKey: []byte{0xa1, 0x01, 0x02}, AAGUID: make([]byte, 16), Format: "packed",
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c.Device
}

// TestGetMFADevice: GetMFADevice describes FIDO security keys and, as in
// IAM, answers NoSuchEntity for the serial of a hardware token or the ARN
// of a virtual device.
func TestGetMFADevice(t *testing.T) {
	e := newEnv(t, iamapi.Config{})
	c := e.iam(e.admin)
	for _, u := range []string{"bob", "carol"} {
		must[*iam.CreateUserOutput](t)(c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String(u)}))
	}
	before := e.clock.Now().Truncate(time.Second)
	fido := e.addFIDO("bob", "yubi")
	if !strings.HasPrefix(fido, "arn:aws:iam::"+token.DefaultAccount+":u2f/user/bob/yubi-") {
		t.Fatalf("FIDO device ARN = %s", fido)
	}

	// A virtual device and a hardware token, both enabled for bob.
	cv := must[*iam.CreateVirtualMFADeviceOutput](t)(c.CreateVirtualMFADevice(bg, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("bob-phone")}))
	virt := *cv.VirtualMFADevice.SerialNumber
	vseed := must[token.Seed](t)(token.ParseBase32Seed(string(cv.VirtualMFADevice.Base32StringSeed)))
	codes := e.codes(vseed, -1, 2)
	must[*iam.EnableMFADeviceOutput](t)(c.EnableMFADevice(bg, &iam.EnableMFADeviceInput{UserName: aws.String("bob"), SerialNumber: aws.String(virt), AuthenticationCode1: aws.String(codes[0]), AuthenticationCode2: aws.String(codes[1])}))
	hw := must[token.Serial](t)(token.NewSerial("GAHT", 4242))
	hseed := must[token.Seed](t)(token.ParseBase32Seed("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"))
	e.importTokens(verify.TokenRecord{Serial: hw, Spec: token.DefaultSpec, Seed: hseed})
	codes = e.codes(hseed, -1, 2)
	must[*iam.EnableMFADeviceOutput](t)(c.EnableMFADevice(bg, &iam.EnableMFADeviceInput{UserName: aws.String("bob"), SerialNumber: aws.String(string(hw)), AuthenticationCode1: aws.String(codes[0]), AuthenticationCode2: aws.String(codes[1])}))

	list := must[*iam.ListMFADevicesOutput](t)(c.ListMFADevices(bg, &iam.ListMFADevicesInput{UserName: aws.String("bob")}))
	if len(list.MFADevices) != 3 {
		t.Fatalf("ListMFADevices = %d devices, want the FIDO key, the virtual device and the token", len(list.MFADevices))
	}

	check := func(t *testing.T, out *iam.GetMFADeviceOutput) {
		t.Helper()
		if out.UserName == nil || *out.UserName != "bob" || out.SerialNumber == nil || *out.SerialNumber != fido {
			t.Fatalf("GetMFADevice = %+v", out)
		}
		if out.EnableDate == nil || out.EnableDate.Before(before) || out.EnableDate.After(e.clock.Now()) {
			t.Errorf("EnableDate = %v, want the registration time (after %v)", out.EnableDate, before)
		}
		if len(out.Certifications) != 0 { // nothing to base a level on (docs/iam.md)
			t.Errorf("Certifications = %v, want none", out.Certifications)
		}
	}
	t.Run("FIDO", func(t *testing.T) {
		check(t, must[*iam.GetMFADeviceOutput](t)(c.GetMFADevice(bg, &iam.GetMFADeviceInput{SerialNumber: aws.String(fido)})))
		check(t, must[*iam.GetMFADeviceOutput](t)(c.GetMFADevice(bg, &iam.GetMFADeviceInput{SerialNumber: aws.String(fido), UserName: aws.String("bob")})))
		// bob, with a key of his own, may look at his own key.
		check(t, must[*iam.GetMFADeviceOutput](t)(e.iam(e.key("bob")).GetMFADevice(bg, &iam.GetMFADeviceInput{SerialNumber: aws.String(fido)})))
	})

	for _, tc := range []struct {
		name      string
		serial    string
		user      string
		code      string
		status    int
		inMessage string
	}{
		{name: "virtual device ARN", serial: virt, code: "NoSuchEntity", status: 404, inMessage: "only FIDO"},
		{name: "hardware token serial", serial: string(hw), code: "NoSuchEntity", status: 404, inMessage: "only FIDO"},
		{name: "virtual device ARN with its user", serial: virt, user: "bob", code: "NoSuchEntity", status: 404},
		{name: "unknown u2f ARN", serial: "arn:aws:iam::" + token.DefaultAccount + ":u2f/user/bob/gone-ABCDEFGHIJ", code: "NoSuchEntity", status: 404},
		{name: "not a serial the verifier knows the syntax of", serial: "some:thing/else", code: "NoSuchEntity", status: 404},
		{name: "another user's key", serial: fido, user: "carol", code: "NoSuchEntity", status: 404},
		{name: "unknown user", serial: fido, user: "nobody", code: "NoSuchEntity", status: 404, inMessage: "user with name nobody"},
		{name: "serial too short", serial: "arn:x", code: "ValidationError", status: 400},
		{name: "user name too long", serial: fido, user: strings.Repeat("u", 65), code: "ValidationError", status: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &iam.GetMFADeviceInput{SerialNumber: aws.String(tc.serial)}
			if tc.user != "" {
				in.UserName = aws.String(tc.user)
			}
			_, err := c.GetMFADevice(bg, in)
			wantCode(t, err, tc.code, tc.status)
			if !strings.Contains(err.Error(), tc.inMessage) {
				t.Errorf("message %q does not say %q", err, tc.inMessage)
			}
		})
	}

	t.Run("someone else's key", func(t *testing.T) {
		_, err := e.iam(e.key("carol")).GetMFADevice(bg, &iam.GetMFADeviceInput{SerialNumber: aws.String(fido)})
		wantCode(t, err, "AccessDenied", 403)
	})

	// FIDO keys give no codes: STS refuses them, as the JSON API does.
	t.Run("GetSessionToken", func(t *testing.T) {
		_, err := e.sts(e.key("bob")).GetSessionToken(bg, &sts.GetSessionTokenInput{SerialNumber: aws.String(fido), TokenCode: aws.String("123456")})
		wantCode(t, err, "ValidationError", 400)
	})
}
