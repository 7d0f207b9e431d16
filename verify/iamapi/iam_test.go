package iamapi_test

import (
	"bytes"
	"errors"
	"image/png"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/iamapi"
)

func TestUsers(t *testing.T) {
	e := newEnv(t, iamapi.Config{})
	c := e.iam(e.admin)

	out := must[*iam.CreateUserOutput](t)(c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String("alice"), Path: aws.String("/eng/")}))
	u := out.User
	if *u.UserName != "alice" || *u.Path != "/eng/" || !strings.HasSuffix(*u.Arn, ":user/eng/alice") || *u.UserId == "" || u.CreateDate == nil {
		t.Fatalf("CreateUser = %+v", u)
	}
	_, err := c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String("alice")})
	wantCode(t, err, "EntityAlreadyExists", 409)

	got := must[*iam.GetUserOutput](t)(c.GetUser(bg, &iam.GetUserInput{UserName: aws.String("alice")}))
	if *got.User.UserId != *u.UserId {
		t.Errorf("GetUser = %+v", got.User)
	}
	self := must[*iam.GetUserOutput](t)(c.GetUser(bg, &iam.GetUserInput{}))
	if *self.User.UserName != "root-admin" {
		t.Errorf("GetUser without a name = %s, want the caller", *self.User.UserName)
	}
	list := must[*iam.ListUsersOutput](t)(c.ListUsers(bg, &iam.ListUsersInput{}))
	var names []string
	for _, u := range list.Users {
		names = append(names, *u.UserName)
	}
	if !slices.Contains(names, "alice") || !slices.Contains(names, "root-admin") || list.IsTruncated {
		t.Errorf("ListUsers = %v", names)
	}
	must[*iam.DeleteUserOutput](t)(c.DeleteUser(bg, &iam.DeleteUserInput{UserName: aws.String("alice")}))
	_, err = c.GetUser(bg, &iam.GetUserInput{UserName: aws.String("alice")})
	wantCode(t, err, "NoSuchEntity", 404)
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) {
		t.Errorf("NoSuchEntity is not the SDK's modeled type: %T", err)
	}
	_, err = c.DeleteUser(bg, &iam.DeleteUserInput{UserName: aws.String("alice")})
	wantCode(t, err, "NoSuchEntity", 404)
	_, err = c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String("bad name!")})
	wantCode(t, err, "ValidationError", 400)
	_, err = c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String("bob"), Path: aws.String("no-slash")})
	wantCode(t, err, "ValidationError", 400)
}

// TestVirtualDevice walks a virtual MFA device through its life, as the
// issue's CLI scenario does, with the SDK.
func TestVirtualDevice(t *testing.T) {
	e := newEnv(t, iamapi.Config{})
	c := e.iam(e.admin)
	must[*iam.CreateUserOutput](t)(c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String("bob")}))

	cv := must[*iam.CreateVirtualMFADeviceOutput](t)(c.CreateVirtualMFADevice(bg, &iam.CreateVirtualMFADeviceInput{
		VirtualMFADeviceName: aws.String("bob-phone"), Path: aws.String("/team/"),
		Tags: []iamtypes.Tag{{Key: aws.String("owner"), Value: aws.String("bob")}},
	}))
	arn := *cv.VirtualMFADevice.SerialNumber
	if arn != "arn:aws:iam::"+token.DefaultAccount+":mfa/team/bob-phone" {
		t.Fatalf("SerialNumber = %s", arn)
	}
	seed, err := token.ParseBase32Seed(string(cv.VirtualMFADevice.Base32StringSeed))
	if err != nil {
		t.Fatalf("Base32StringSeed %q: %v", cv.VirtualMFADevice.Base32StringSeed, err)
	}
	if _, err := png.Decode(bytes.NewReader(cv.VirtualMFADevice.QRCodePNG)); err != nil {
		t.Errorf("QRCodePNG is not a PNG: %v", err)
	}
	_, err = c.CreateVirtualMFADevice(bg, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("bob-phone"), Path: aws.String("/team/")})
	wantCode(t, err, "EntityAlreadyExists", 409)

	un := must[*iam.ListVirtualMFADevicesOutput](t)(c.ListVirtualMFADevices(bg, &iam.ListVirtualMFADevicesInput{AssignmentStatus: iamtypes.AssignmentStatusTypeUnassigned}))
	if len(un.VirtualMFADevices) != 1 || *un.VirtualMFADevices[0].SerialNumber != arn || un.VirtualMFADevices[0].User != nil {
		t.Fatalf("unassigned = %+v", un.VirtualMFADevices)
	}

	// Wrong codes, a code that is not digits, an unknown user.
	_, err = c.EnableMFADevice(bg, &iam.EnableMFADeviceInput{UserName: aws.String("bob"), SerialNumber: aws.String(arn), AuthenticationCode1: aws.String("000000"), AuthenticationCode2: aws.String("000001")})
	wantCode(t, err, "InvalidAuthenticationCode", 403)
	_, err = c.EnableMFADevice(bg, &iam.EnableMFADeviceInput{UserName: aws.String("bob"), SerialNumber: aws.String(arn), AuthenticationCode1: aws.String("abcdef"), AuthenticationCode2: aws.String("000001")})
	wantCode(t, err, "ValidationError", 400)
	_, err = c.EnableMFADevice(bg, &iam.EnableMFADeviceInput{UserName: aws.String("nobody"), SerialNumber: aws.String(arn), AuthenticationCode1: aws.String("000000"), AuthenticationCode2: aws.String("000001")})
	wantCode(t, err, "NoSuchEntity", 404)

	codes := e.codes(seed, -1, 2)
	must[*iam.EnableMFADeviceOutput](t)(c.EnableMFADevice(bg, &iam.EnableMFADeviceInput{UserName: aws.String("bob"), SerialNumber: aws.String(arn), AuthenticationCode1: aws.String(codes[0]), AuthenticationCode2: aws.String(codes[1])}))

	list := must[*iam.ListMFADevicesOutput](t)(c.ListMFADevices(bg, &iam.ListMFADevicesInput{UserName: aws.String("bob")}))
	if len(list.MFADevices) != 1 || *list.MFADevices[0].SerialNumber != arn || *list.MFADevices[0].UserName != "bob" || list.MFADevices[0].EnableDate == nil {
		t.Fatalf("ListMFADevices = %+v", list.MFADevices)
	}
	as := must[*iam.ListVirtualMFADevicesOutput](t)(c.ListVirtualMFADevices(bg, &iam.ListVirtualMFADevicesInput{AssignmentStatus: iamtypes.AssignmentStatusTypeAssigned}))
	if len(as.VirtualMFADevices) != 1 || as.VirtualMFADevices[0].User == nil || *as.VirtualMFADevices[0].User.UserName != "bob" || as.VirtualMFADevices[0].Base32StringSeed != nil {
		t.Fatalf("assigned = %+v", as.VirtualMFADevices)
	}
	// GetMFADevice takes only FIDO security key ARNs (TestGetMFADevice).
	_, err = c.GetMFADevice(bg, &iam.GetMFADeviceInput{SerialNumber: aws.String(arn)})
	wantCode(t, err, "NoSuchEntity", 404)

	// Tags.
	must[*iam.TagMFADeviceOutput](t)(c.TagMFADevice(bg, &iam.TagMFADeviceInput{SerialNumber: aws.String(arn), Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("blue")}, {Key: aws.String("a"), Value: aws.String("")}}}))
	must[*iam.UntagMFADeviceOutput](t)(c.UntagMFADevice(bg, &iam.UntagMFADeviceInput{SerialNumber: aws.String(arn), TagKeys: []string{"owner"}}))
	tags := must[*iam.ListMFADeviceTagsOutput](t)(c.ListMFADeviceTags(bg, &iam.ListMFADeviceTagsInput{SerialNumber: aws.String(arn)}))
	var kv []string
	for _, tg := range tags.Tags {
		kv = append(kv, *tg.Key+"="+*tg.Value)
	}
	if strings.Join(kv, ",") != "a=,team=blue" {
		t.Errorf("tags = %v", kv)
	}
	page := must[*iam.ListMFADeviceTagsOutput](t)(c.ListMFADeviceTags(bg, &iam.ListMFADeviceTagsInput{SerialNumber: aws.String(arn), MaxItems: aws.Int32(1)}))
	if len(page.Tags) != 1 || !page.IsTruncated || *page.Marker != "team" {
		t.Errorf("first page of tags = %+v", page)
	}

	var many []iamtypes.Tag
	for i := range 49 { // two tags already: 51 in all
		many = append(many, iamtypes.Tag{Key: aws.String("k" + itoa(i)), Value: aws.String("")})
	}
	_, err = c.TagMFADevice(bg, &iam.TagMFADeviceInput{SerialNumber: aws.String(arn), Tags: many})
	wantCode(t, err, "LimitExceeded", 409)

	// Deleting what is in use.
	_, err = c.DeleteUser(bg, &iam.DeleteUserInput{UserName: aws.String("bob")})
	wantCode(t, err, "DeleteConflict", 409)
	_, err = c.DeleteVirtualMFADevice(bg, &iam.DeleteVirtualMFADeviceInput{SerialNumber: aws.String(arn)})
	wantCode(t, err, "DeleteConflict", 409)

	// Sessions with MFA: a good code, then the same code again, then a wrong one.
	bobKey := e.key("bob")
	s := e.sts(bobKey)
	e.clock.Step()
	code := e.codes(seed, 0, 1)[0]
	sess := must[*sts.GetSessionTokenOutput](t)(s.GetSessionToken(bg, &sts.GetSessionTokenInput{SerialNumber: aws.String(arn), TokenCode: aws.String(code), DurationSeconds: aws.Int32(900)}))
	cr := sess.Credentials
	if !strings.HasPrefix(*cr.AccessKeyId, "ASIA") || *cr.SessionToken == "" || cr.Expiration == nil {
		t.Errorf("credentials = %+v", cr)
	}
	_, err = s.GetSessionToken(bg, &sts.GetSessionTokenInput{SerialNumber: aws.String(arn), TokenCode: aws.String(code)})
	wantCode(t, err, "AccessDenied", 403)
	_, err = s.GetSessionToken(bg, &sts.GetSessionTokenInput{SerialNumber: aws.String(arn), TokenCode: aws.String(wrong(code))})
	wantCode(t, err, "AccessDenied", 403)
	_, err = s.GetSessionToken(bg, &sts.GetSessionTokenInput{SerialNumber: aws.String(arn), TokenCode: aws.String("12345")})
	wantCode(t, err, "ValidationError", 400)

	// The session's credentials work, carry MFA, and bob sees himself.
	sessCreds := aws.Credentials{AccessKeyID: *cr.AccessKeyId, SecretAccessKey: *cr.SecretAccessKey, SessionToken: *cr.SessionToken}
	id := must[*sts.GetCallerIdentityOutput](t)(e.sts(sessCreds).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{}))
	if !strings.HasSuffix(*id.Arn, ":user/bob") || *id.Account != token.DefaultAccount {
		t.Errorf("GetCallerIdentity = %s %s", *id.Arn, *id.Account)
	}
	mine := must[*iam.ListMFADevicesOutput](t)(e.iam(sessCreds).ListMFADevices(bg, &iam.ListMFADevicesInput{}))
	if len(mine.MFADevices) != 1 {
		t.Errorf("bob's own devices = %+v", mine.MFADevices)
	}
	_, err = e.sts(sessCreds).GetSessionToken(bg, &sts.GetSessionTokenInput{})
	wantCode(t, err, "AccessDenied", 403)
	_, err = e.iam(sessCreds).ListUsers(bg, &iam.ListUsersInput{})
	wantCode(t, err, "AccessDenied", 403)
	bad := sessCreds
	bad.SessionToken = "x" + bad.SessionToken
	_, err = e.sts(bad).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{})
	wantCode(t, err, "InvalidClientTokenId", 403)

	// The token's clock runs 10 minutes ahead: checks fail until a resync.
	ahead := e.codes(seed, 20, 2)
	_, err = s.GetSessionToken(bg, &sts.GetSessionTokenInput{SerialNumber: aws.String(arn), TokenCode: aws.String(ahead[0])})
	wantCode(t, err, "AccessDenied", 403)
	ahead = e.codes(seed, 21, 2)
	must[*iam.ResyncMFADeviceOutput](t)(c.ResyncMFADevice(bg, &iam.ResyncMFADeviceInput{UserName: aws.String("bob"), SerialNumber: aws.String(arn), AuthenticationCode1: aws.String(ahead[0]), AuthenticationCode2: aws.String(ahead[1])}))
	e.clock.Step()
	next := e.codes(seed, 22, 1)[0] // drift is now 22 steps
	must[*sts.GetSessionTokenOutput](t)(s.GetSessionToken(bg, &sts.GetSessionTokenInput{SerialNumber: aws.String(arn), TokenCode: aws.String(next)}))

	// Deactivate, delete, and the user can go.
	must[*iam.DeactivateMFADeviceOutput](t)(c.DeactivateMFADevice(bg, &iam.DeactivateMFADeviceInput{UserName: aws.String("bob"), SerialNumber: aws.String(arn)}))
	_, err = c.DeactivateMFADevice(bg, &iam.DeactivateMFADeviceInput{UserName: aws.String("bob"), SerialNumber: aws.String(arn)})
	wantCode(t, err, "NoSuchEntity", 404)
	must[*iam.DeleteVirtualMFADeviceOutput](t)(c.DeleteVirtualMFADevice(bg, &iam.DeleteVirtualMFADeviceInput{SerialNumber: aws.String(arn)}))
	_, err = c.DeleteVirtualMFADevice(bg, &iam.DeleteVirtualMFADeviceInput{SerialNumber: aws.String(arn)})
	wantCode(t, err, "NoSuchEntity", 404)
	for _, k := range must[*iam.ListAccessKeysOutput](t)(c.ListAccessKeys(bg, &iam.ListAccessKeysInput{UserName: aws.String("bob")})).AccessKeyMetadata {
		must[*iam.DeleteAccessKeyOutput](t)(c.DeleteAccessKey(bg, &iam.DeleteAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: k.AccessKeyId}))
	}
	must[*iam.DeleteUserOutput](t)(c.DeleteUser(bg, &iam.DeleteUserInput{UserName: aws.String("bob")}))
}

// wrong returns a code that differs from code in its last digit.
func wrong(code string) string {
	b := []byte(code)
	b[5] = '0' + (b[5]-'0'+1)%10
	return string(b)
}

func TestHardwareTokenAndLimit(t *testing.T) {
	e := newEnv(t, iamapi.Config{})
	c := e.iam(e.admin)
	must[*iam.CreateUserOutput](t)(c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String("carol")}))
	var recs []verify.TokenRecord
	for i := range 9 {
		serial := must[token.Serial](t)(token.NewSerial("GAHT", uint64(1000+i)))
		seed := must[token.Seed](t)(token.NewSeed(bytes.Repeat([]byte{byte(i + 1)}, 20)))
		recs = append(recs, verify.TokenRecord{Serial: serial, Spec: token.DefaultSpec, Seed: seed})
	}
	e.importTokens(recs...)
	for i, r := range recs {
		codes := e.codes(r.Seed, -1, 2)
		_, err := c.EnableMFADevice(bg, &iam.EnableMFADeviceInput{UserName: aws.String("carol"), SerialNumber: aws.String(string(r.Serial)), AuthenticationCode1: aws.String(codes[0]), AuthenticationCode2: aws.String(codes[1])})
		if i < verify.MaxDevicesPerUser {
			if err != nil {
				t.Fatalf("device %d: %v", i+1, err)
			}
			continue
		}
		wantCode(t, err, "LimitExceeded", 409)
	}
	list := must[*iam.ListMFADevicesOutput](t)(c.ListMFADevices(bg, &iam.ListMFADevicesInput{UserName: aws.String("carol")}))
	if len(list.MFADevices) != verify.MaxDevicesPerUser {
		t.Errorf("carol has %d devices", len(list.MFADevices))
	}
	// A hardware token gives sessions too.
	s := e.sts(e.key("carol"))
	e.clock.Step()
	r := recs[0]
	must[*sts.GetSessionTokenOutput](t)(s.GetSessionToken(bg, &sts.GetSessionTokenInput{SerialNumber: aws.String(string(r.Serial)), TokenCode: aws.String(e.codes(r.Seed, 0, 1)[0])}))
	// A serial that is not carol's.
	_, err := s.GetSessionToken(bg, &sts.GetSessionTokenInput{SerialNumber: aws.String(string(recs[8].Serial)), TokenCode: aws.String(e.codes(recs[8].Seed, 0, 1)[0])})
	wantCode(t, err, "AccessDenied", 403)
	_, err = c.EnableMFADevice(bg, &iam.EnableMFADeviceInput{UserName: aws.String("carol"), SerialNumber: aws.String("GAHT99999999"), AuthenticationCode1: aws.String("123456"), AuthenticationCode2: aws.String("123457")})
	wantCode(t, err, "NoSuchEntity", 404)
}

func TestSelfServiceAndRequireMFA(t *testing.T) {
	e := newEnv(t, iamapi.Config{})
	c := e.iam(e.admin)
	must[*iam.CreateUserOutput](t)(c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String("dave")}))
	must[*iam.CreateUserOutput](t)(c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String("erin")}))
	ak := must[*iam.CreateAccessKeyOutput](t)(c.CreateAccessKey(bg, &iam.CreateAccessKeyInput{UserName: aws.String("dave")}))
	if *ak.AccessKey.UserName != "dave" || *ak.AccessKey.SecretAccessKey == "" || ak.AccessKey.Status != iamtypes.StatusTypeActive {
		t.Fatalf("CreateAccessKey = %+v", ak.AccessKey)
	}
	dave := aws.Credentials{AccessKeyID: *ak.AccessKey.AccessKeyId, SecretAccessKey: *ak.AccessKey.SecretAccessKey}
	d := e.iam(dave)

	// dave manages his own MFA, nobody else's.
	cv := must[*iam.CreateVirtualMFADeviceOutput](t)(d.CreateVirtualMFADevice(bg, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("dave")}))
	seed := must[token.Seed](t)(token.ParseBase32Seed(string(cv.VirtualMFADevice.Base32StringSeed)))
	codes := e.codes(seed, -1, 2)
	_, err := d.EnableMFADevice(bg, &iam.EnableMFADeviceInput{UserName: aws.String("erin"), SerialNumber: cv.VirtualMFADevice.SerialNumber, AuthenticationCode1: aws.String(codes[0]), AuthenticationCode2: aws.String(codes[1])})
	wantCode(t, err, "AccessDenied", 403)
	must[*iam.EnableMFADeviceOutput](t)(d.EnableMFADevice(bg, &iam.EnableMFADeviceInput{UserName: aws.String("dave"), SerialNumber: cv.VirtualMFADevice.SerialNumber, AuthenticationCode1: aws.String(codes[0]), AuthenticationCode2: aws.String(codes[1])}))
	_, err = d.ListUsers(bg, &iam.ListUsersInput{})
	wantCode(t, err, "AccessDenied", 403)
	_, err = d.ListMFADevices(bg, &iam.ListMFADevicesInput{UserName: aws.String("erin")})
	wantCode(t, err, "AccessDenied", 403)
	keys := must[*iam.ListAccessKeysOutput](t)(d.ListAccessKeys(bg, &iam.ListAccessKeysInput{}))
	if len(keys.AccessKeyMetadata) != 1 || *keys.AccessKeyMetadata[0].AccessKeyId != dave.AccessKeyID {
		t.Errorf("ListAccessKeys = %+v", keys.AccessKeyMetadata)
	}

	// Once dave must use MFA, his long-term key calls no IAM action, but
	// gets an MFA session from STS, which does.
	if err := e.v.SetRequireMFA(bg, "dave", true); err != nil {
		t.Fatal(err)
	}
	_, err = d.ListMFADevices(bg, &iam.ListMFADevicesInput{})
	wantCode(t, err, "AccessDenied", 403)
	// The verifier issues sessions only with MFA.
	_, err = e.sts(dave).GetSessionToken(bg, &sts.GetSessionTokenInput{})
	wantCode(t, err, "AccessDenied", 403)
	e.clock.Step()
	withMFA := must[*sts.GetSessionTokenOutput](t)(e.sts(dave).GetSessionToken(bg, &sts.GetSessionTokenInput{SerialNumber: cv.VirtualMFADevice.SerialNumber, TokenCode: aws.String(e.codes(seed, 0, 1)[0])}))
	must[*iam.ListMFADevicesOutput](t)(e.iam(credsOf(withMFA)).ListMFADevices(bg, &iam.ListMFADevicesInput{}))

	// A deleted key stops working.
	must[*iam.DeleteAccessKeyOutput](t)(c.DeleteAccessKey(bg, &iam.DeleteAccessKeyInput{UserName: aws.String("dave"), AccessKeyId: aws.String(dave.AccessKeyID)}))
	_, err = e.sts(dave).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{})
	wantCode(t, err, "InvalidClientTokenId", 403)
	_, err = c.DeleteAccessKey(bg, &iam.DeleteAccessKeyInput{UserName: aws.String("dave"), AccessKeyId: aws.String(dave.AccessKeyID)})
	wantCode(t, err, "NoSuchEntity", 404)
}

// TestExpiredSession: once a session's credentials expire, STS answers
// ExpiredToken (HTTP 403), not InvalidClientTokenId, as AWS does; a
// session key that never existed is still InvalidClientTokenId.
func TestExpiredSession(t *testing.T) {
	e := newEnv(t, iamapi.Config{})
	c := e.iam(e.admin)
	must[*iam.CreateUserOutput](t)(c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String("frank")}))
	frank := e.key("frank")
	cv := must[*iam.CreateVirtualMFADeviceOutput](t)(c.CreateVirtualMFADevice(bg, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("frank")}))
	seed := must[token.Seed](t)(token.ParseBase32Seed(string(cv.VirtualMFADevice.Base32StringSeed)))
	codes := e.codes(seed, -1, 2)
	must[*iam.EnableMFADeviceOutput](t)(c.EnableMFADevice(bg, &iam.EnableMFADeviceInput{UserName: aws.String("frank"), SerialNumber: cv.VirtualMFADevice.SerialNumber, AuthenticationCode1: aws.String(codes[0]), AuthenticationCode2: aws.String(codes[1])}))
	e.clock.Step()
	sess := credsOf(must[*sts.GetSessionTokenOutput](t)(e.sts(frank).GetSessionToken(bg, &sts.GetSessionTokenInput{SerialNumber: cv.VirtualMFADevice.SerialNumber, TokenCode: aws.String(e.codes(seed, 0, 1)[0]), DurationSeconds: aws.Int32(900)})))
	must[*sts.GetCallerIdentityOutput](t)(e.sts(sess).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{}))

	e.clock.Advance(900 * time.Second)
	_, err := e.sts(sess).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{})
	wantCode(t, err, "ExpiredToken", 403)
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorMessage() != "The security token included in the request is expired" {
		t.Errorf("expired session: message %v", err)
	}
	_, err = e.iam(sess).ListMFADevices(bg, &iam.ListMFADevicesInput{})
	wantCode(t, err, "ExpiredToken", 403)

	unknown := sess
	unknown.AccessKeyID = "ASIA" + strings.Repeat("Q", 16)
	_, err = e.sts(unknown).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{})
	wantCode(t, err, "InvalidClientTokenId", 403)
	// The long-term key is unaffected.
	must[*sts.GetCallerIdentityOutput](t)(e.sts(frank).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{}))
}

func credsOf(o *sts.GetSessionTokenOutput) aws.Credentials {
	return aws.Credentials{AccessKeyID: *o.Credentials.AccessKeyId, SecretAccessKey: *o.Credentials.SecretAccessKey, SessionToken: *o.Credentials.SessionToken}
}

// TestPagination walks the lists with the SDK's own paginators, one item
// a page, so markers make the round trip through the wire.
func TestPagination(t *testing.T) {
	e := newEnv(t, iamapi.Config{})
	c := e.iam(e.admin)
	for _, n := range []string{"u1", "u2", "u3"} {
		must[*iam.CreateUserOutput](t)(c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String(n)}))
		must[*iam.CreateVirtualMFADeviceOutput](t)(c.CreateVirtualMFADevice(bg, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String(n)}))
	}
	var users []string
	for p := iam.NewListUsersPaginator(c, &iam.ListUsersInput{MaxItems: aws.Int32(1)}); p.HasMorePages(); {
		out := must[*iam.ListUsersOutput](t)(p.NextPage(bg))
		if len(out.Users) > 1 {
			t.Fatalf("page of %d users", len(out.Users))
		}
		for _, u := range out.Users {
			users = append(users, *u.UserName)
		}
	}
	if strings.Join(users, ",") != "root-admin,u1,u2,u3" && strings.Join(users, ",") != "u1,u2,u3,root-admin" {
		t.Errorf("users = %v", users)
	}
	var devs []string
	for p := iam.NewListVirtualMFADevicesPaginator(c, &iam.ListVirtualMFADevicesInput{MaxItems: aws.Int32(2)}); p.HasMorePages(); {
		out := must[*iam.ListVirtualMFADevicesOutput](t)(p.NextPage(bg))
		for _, d := range out.VirtualMFADevices {
			devs = append(devs, *d.SerialNumber)
		}
	}
	if len(devs) != 3 {
		t.Errorf("virtual devices = %v", devs)
	}
	_, err := c.ListUsers(bg, &iam.ListUsersInput{Marker: aws.String("not a marker")})
	wantCode(t, err, "ValidationError", 400)
}
