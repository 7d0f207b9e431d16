package iamapi

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"sort"
	"strconv"
	"strings"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"

	"github.com/tokenlab/tokenlab/verify"
)

// iamActions are the IAM actions served, by Action name.
var iamActions = map[string]actionFunc{
	"CreateUser":             createUser,
	"GetUser":                getUser,
	"ListUsers":              listUsers,
	"DeleteUser":             deleteUser,
	"CreateAccessKey":        createAccessKey,
	"DeleteAccessKey":        deleteAccessKey,
	"ListAccessKeys":         listAccessKeys,
	"CreateVirtualMFADevice": createVirtualMFADevice,
	"DeleteVirtualMFADevice": deleteVirtualMFADevice,
	"ListVirtualMFADevices":  listVirtualMFADevices,
	"EnableMFADevice":        enableMFADevice,
	"ResyncMFADevice":        resyncMFADevice,
	"DeactivateMFADevice":    deactivateMFADevice,
	"ListMFADevices":         listMFADevices,
	"GetMFADevice":           getMFADevice,
	"TagMFADevice":           tagMFADevice,
	"UntagMFADevice":         untagMFADevice,
	"ListMFADeviceTags":      listMFADeviceTags,
}

// XML shapes of the IAM model (element names are the model's member names).

type xmlUser struct {
	Path       string
	UserName   string
	UserId     string
	Arn        string
	CreateDate string
}

func (c *call) xmlUser(u verify.User) *xmlUser {
	p := u.Path
	if p == "" {
		p = "/"
	}
	arn := u.Arn
	if arn == "" {
		arn = "arn:aws:iam::" + c.h.cfg.Account + ":user" + p + u.Name
	}
	return &xmlUser{Path: p, UserName: u.Name, UserId: u.ID, Arn: arn, CreateDate: isoTime(u.CreatedAt)}
}

type userResult struct {
	User *xmlUser
}

type listResult struct {
	IsTruncated bool
	Marker      string `xml:",omitempty"`
}

func truncated(next string) listResult { return listResult{IsTruncated: next != "", Marker: next} }

func createUser(c *call) (any, error) {
	name := c.p.get("UserName", true, ruleUserName)
	path := c.p.path("Path")
	if err := c.p.err(); err != nil {
		return nil, err
	}
	if err := c.adminOnly(c.userArn(name)); err != nil {
		return nil, err
	}
	u, err := c.h.v.CreateUser(c.ctx, name, verify.UserOptions{Path: path})
	if err != nil {
		return nil, iamError(c.action, err)
	}
	return userResult{c.xmlUser(u)}, nil
}

func getUser(c *call) (any, error) {
	name, err := c.self(false)
	if err != nil {
		return nil, err
	}
	u, err := c.h.v.GetUser(c.ctx, name)
	if err != nil {
		return nil, iamError(c.action, err)
	}
	return userResult{c.xmlUser(u)}, nil
}

func listUsers(c *call) (any, error) {
	prefix := c.p.get("PathPrefix", false, rulePathPrefix)
	marker, max := c.p.page()
	if err := c.p.err(); err != nil {
		return nil, err
	}
	if err := c.adminOnly("arn:aws:iam::" + c.h.cfg.Account + ":user/"); err != nil {
		return nil, err
	}
	users, next, err := c.h.v.ListUsers(c.ctx, prefix, verify.Page{Marker: marker, Max: max})
	if err != nil {
		return nil, markerError(c, err)
	}
	res := struct {
		Users struct {
			Member []*xmlUser `xml:"member"`
		}
		listResult
	}{listResult: truncated(next)}
	for _, u := range users {
		res.Users.Member = append(res.Users.Member, c.xmlUser(u))
	}
	return res, nil
}

// markerError reports a verifier's refusal of a marker as IAM does.
func markerError(c *call, err error) error {
	if verify.CodeOf(err) == verify.EINVALID {
		return errValidation("Invalid Marker.")
	}
	return iamError(c.action, err)
}

func deleteUser(c *call) (any, error) {
	name := c.p.get("UserName", true, ruleExistingUser)
	if err := c.p.err(); err != nil {
		return nil, err
	}
	if err := c.adminOnly(c.userArn(name)); err != nil {
		return nil, err
	}
	if err := c.h.v.DeleteUser(c.ctx, name); err != nil {
		return nil, c.userError(name, err) // DeleteConflict while devices or keys remain
	}
	return nil, nil
}

// Access keys.

type xmlAccessKey struct {
	UserName        string
	AccessKeyId     string
	Status          string
	SecretAccessKey string `xml:",omitempty"`
	CreateDate      string `xml:",omitempty"`
}

func keyStatus(k verify.AccessKey) string {
	if k.Status == "" {
		return "Active"
	}
	return k.Status
}

func createAccessKey(c *call) (any, error) {
	user, err := c.self(false)
	if err != nil {
		return nil, err
	}
	k, err := c.h.v.CreateAccessKey(c.ctx, user)
	if err != nil {
		return nil, iamError(c.action, err)
	}
	return struct{ AccessKey xmlAccessKey }{xmlAccessKey{
		UserName: k.User, AccessKeyId: k.ID, Status: keyStatus(k), SecretAccessKey: k.Secret, CreateDate: isoTime(k.CreatedAt),
	}}, nil
}

func deleteAccessKey(c *call) (any, error) {
	id := c.p.get("AccessKeyId", true, ruleAccessKey)
	user, err := c.self(false)
	if err != nil {
		return nil, err
	}
	if err := c.h.v.DeleteAccessKey(c.ctx, user, id); err != nil {
		if verify.CodeOf(err) == verify.ENOTFOUND {
			return nil, errf(404, "NoSuchEntity", "The Access Key with id %s cannot be found.", id)
		}
		return nil, iamError(c.action, err)
	}
	return nil, nil
}

func listAccessKeys(c *call) (any, error) {
	user, err := c.self(false)
	if err != nil {
		return nil, err
	}
	c.p.page() // accepted; a user has at most a few keys
	if err := c.p.err(); err != nil {
		return nil, err
	}
	keys, err := c.h.v.ListAccessKeys(c.ctx, user)
	if err != nil {
		return nil, iamError(c.action, err)
	}
	res := struct {
		AccessKeyMetadata struct {
			Member []xmlAccessKey `xml:"member"`
		}
		listResult
	}{}
	for _, k := range keys {
		if k.SessionToken != "" || !k.Expires.IsZero() { // STS session keys are not listed
			continue
		}
		res.AccessKeyMetadata.Member = append(res.AccessKeyMetadata.Member, xmlAccessKey{
			UserName: k.User, AccessKeyId: k.ID, Status: keyStatus(k), CreateDate: isoTime(k.CreatedAt),
		})
	}
	return res, nil
}

// Virtual MFA devices.

type xmlTag struct {
	Key   string
	Value string
}

type xmlVirtualDevice struct {
	SerialNumber     string
	Base32StringSeed string   `xml:",omitempty"`
	QRCodePNG        string   `xml:",omitempty"`
	User             *xmlUser `xml:",omitempty"`
	EnableDate       string   `xml:",omitempty"`
	Tags             *struct {
		Member []xmlTag `xml:"member"`
	} `xml:",omitempty"`
}

func createVirtualMFADevice(c *call) (any, error) {
	name := c.p.get("VirtualMFADeviceName", true, ruleMFAName)
	path := c.p.path("Path")
	tags := c.p.tags(false)
	if err := c.p.err(); err != nil {
		return nil, err
	}
	vd, err := c.h.v.CreateVirtual(c.ctx, name, path, tags)
	if err != nil {
		if verify.CodeOf(err) == verify.ECONFLICT {
			return nil, errf(409, "EntityAlreadyExists", "MFA device already exists.")
		}
		return nil, iamError(c.action, err)
	}
	uri := vd.URI
	if uri == "" { // the form IAM documents for its QR codes
		uri = "otpauth://totp/" + name + "@" + c.h.cfg.Account + "?secret=" + vd.Seed.Base32()
	}
	pngBytes, err := qrPNG(uri)
	if err != nil {
		return nil, err
	}
	// Blobs travel base64-encoded (IAM-SPEC.md §0).
	return struct{ VirtualMFADevice xmlVirtualDevice }{xmlVirtualDevice{
		SerialNumber:     vd.ID,
		Base32StringSeed: base64.StdEncoding.EncodeToString([]byte(vd.Seed.Base32())),
		QRCodePNG:        base64.StdEncoding.EncodeToString(pngBytes),
	}}, nil
}

// qrPNG renders uri as a QR code PNG, 4 pixels a module.
func qrPNG(uri string) ([]byte, error) {
	code, err := qr.Encode(uri, qr.M, qr.Auto)
	if err != nil {
		return nil, err
	}
	n := code.Bounds().Dx() * 4
	code, err = barcode.Scale(code, n, n)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := png.Encode(&b, code); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func deleteVirtualMFADevice(c *call) (any, error) {
	serial := c.p.get("SerialNumber", true, ruleSerial)
	if err := c.p.err(); err != nil {
		return nil, err
	}
	if err := c.mayChange(serial); err != nil {
		return nil, err
	}
	if err := c.h.v.DeleteVirtual(c.ctx, serial); err != nil {
		return nil, deviceError(c, serial, err) // DeleteConflict while assigned
	}
	return nil, nil
}

// ownDevice fetches a device and, for callers who are not
// administrators, checks that it is theirs (or, with unassigned, free).
func (c *call) ownDevice(serial string, unassigned bool) (verify.Device, error) {
	d, err := c.h.v.GetDevice(c.ctx, serial)
	if err != nil {
		return d, deviceError(c, serial, err)
	}
	if c.caller.Admin || d.User == c.caller.Name || (unassigned && d.User == "") {
		return d, nil
	}
	return d, c.adminOnly(serial)
}

// mayChange checks that the caller may change a device: administrators
// any, other users their own or unassigned ones.
func (c *call) mayChange(serial string) error {
	if c.caller.Admin {
		return nil
	}
	_, err := c.ownDevice(serial, true)
	return err
}

// deviceError says "no such device" as IAM does.
func deviceError(c *call, serial string, err error) error {
	if verify.CodeOf(err) == verify.ENOTFOUND {
		return errf(404, "NoSuchEntity", "MFA Device with serial number %s does not exist.", serial)
	}
	return iamError(c.action, err)
}

func listVirtualMFADevices(c *call) (any, error) {
	status := c.p.enum("AssignmentStatus", string(verify.AssignmentAny), "Assigned", "Unassigned", "Any")
	marker, max := c.p.page()
	if err := c.p.err(); err != nil {
		return nil, err
	}
	if err := c.adminOnly("arn:aws:iam::" + c.h.cfg.Account + ":mfa/"); err != nil {
		return nil, err
	}
	devs, next, err := c.h.v.ListVirtual(c.ctx, verify.Assignment(status), verify.Page{Marker: marker, Max: max})
	if err != nil {
		return nil, markerError(c, err)
	}
	res := struct {
		VirtualMFADevices struct {
			Member []xmlVirtualDevice `xml:"member"`
		}
		listResult
	}{listResult: truncated(next)}
	users := map[string]*xmlUser{}
	for _, d := range devs {
		m := xmlVirtualDevice{SerialNumber: d.ID}
		if d.User != "" {
			m.EnableDate = isoTime(d.EnabledAt)
			if _, ok := users[d.User]; !ok {
				u, err := c.h.v.GetUser(c.ctx, d.User)
				if err != nil {
					return nil, iamError(c.action, err)
				}
				users[d.User] = c.xmlUser(u)
			}
			m.User = users[d.User]
		}
		res.VirtualMFADevices.Member = append(res.VirtualMFADevices.Member, m)
	}
	return res, nil
}

// Enabling, resynchronising and deactivating.

// codes reads UserName, SerialNumber and the two consecutive codes of
// Enable and Resync.
func (c *call) codes() (user, serial, code1, code2 string, err error) {
	user = c.p.get("UserName", true, ruleExistingUser)
	serial = c.p.get("SerialNumber", true, ruleSerial)
	code1 = c.p.get("AuthenticationCode1", true, ruleAuthCode)
	code2 = c.p.get("AuthenticationCode2", true, ruleAuthCode)
	if err := c.p.err(); err != nil {
		return "", "", "", "", err
	}
	if user != c.caller.Name {
		if err := c.adminOnly(c.userArn(user)); err != nil {
			return "", "", "", "", err
		}
	}
	// IAM looks at the user before the codes (IAM-SPEC.md §1).
	if _, err := c.h.v.GetUser(c.ctx, user); err != nil {
		return "", "", "", "", c.userError(user, err)
	}
	return user, serial, code1, code2, nil
}

// userError says "no such user" as IAM does.
func (c *call) userError(name string, err error) error {
	if verify.CodeOf(err) == verify.ENOTFOUND {
		return errf(404, "NoSuchEntity", "The user with name %s cannot be found.", name)
	}
	return iamError(c.action, err)
}

func enableMFADevice(c *call) (any, error) {
	user, serial, code1, code2, err := c.codes()
	if err != nil {
		return nil, err
	}
	if err := c.h.v.Enable(c.ctx, user, serial, code1, code2); err != nil {
		return nil, deviceError(c, serial, err)
	}
	return nil, nil
}

func resyncMFADevice(c *call) (any, error) {
	user, serial, code1, code2, err := c.codes()
	if err != nil {
		return nil, err
	}
	if err := c.h.v.Resync(c.ctx, user, serial, code1, code2); err != nil {
		return nil, deviceError(c, serial, err)
	}
	return nil, nil
}

func deactivateMFADevice(c *call) (any, error) {
	serial := c.p.get("SerialNumber", true, ruleSerial)
	user, err := c.self(false)
	if err != nil {
		return nil, err
	}
	if err := c.h.v.Deactivate(c.ctx, user, serial); err != nil {
		return nil, deviceError(c, serial, err)
	}
	return nil, nil
}

// Listing and describing devices.

type xmlMFADevice struct {
	UserName     string
	SerialNumber string
	EnableDate   string
}

func listMFADevices(c *call) (any, error) {
	user, err := c.self(false)
	if err != nil {
		return nil, err
	}
	marker, max := c.p.page()
	if err := c.p.err(); err != nil {
		return nil, err
	}
	devs, next, err := c.h.v.ListDevices(c.ctx, user, verify.Page{Marker: marker, Max: max})
	if err != nil {
		if verify.CodeOf(err) == verify.ENOTFOUND {
			return nil, c.userError(user, err)
		}
		return nil, markerError(c, err)
	}
	res := struct {
		MFADevices struct {
			Member []xmlMFADevice `xml:"member"`
		}
		listResult
	}{listResult: truncated(next)}
	for _, d := range devs {
		res.MFADevices.Member = append(res.MFADevices.Member, xmlMFADevice{UserName: user, SerialNumber: d.ID, EnableDate: isoTime(d.EnabledAt)})
	}
	return res, nil
}

// getMFADevice describes a FIDO security key. IAM's GetMFADevice accepts
// only FIDO security key ARNs ("For this API, we only accept FIDO security
// key ARNs", SerialNumber in the IAM model). For the serial of a hardware
// token or the ARN of a virtual device the answer is NoSuchEntity (404):
// the operation's only modeled errors are NoSuchEntity and ServiceFailure,
// and such a value satisfies the model's constraints on SerialNumber
// (9–256 characters of [\w+=/:,.@-]), so the model-level ValidationError,
// which reports constraint violations, does not apply; what the service
// then finds is no FIDO key by that ARN. (No AWS answer for this case was
// found recorded; this follows the model.)
//
// Certifications (FIPS-140-2, FIPS-140-3, FIDO levels) come, in AWS, from
// the FIDO Alliance Metadata Service for the key's model. The verifier
// keeps the AAGUID but no metadata to look it up in, so it sends none
// rather than invent a level.
func getMFADevice(c *call) (any, error) {
	serial := c.p.get("SerialNumber", true, ruleSerial)
	user := c.p.get("UserName", false, ruleUserName)
	if err := c.p.err(); err != nil {
		return nil, err
	}
	if user != "" && user != c.caller.Name {
		if err := c.adminOnly(c.userArn(user)); err != nil {
			return nil, err
		}
		if _, err := c.h.v.GetUser(c.ctx, user); err != nil {
			return nil, c.userError(user, err)
		}
	}
	notFIDO := errf(404, "NoSuchEntity", "MFA Device with serial number %s does not exist. GetMFADevice accepts only FIDO security key ARNs.", serial)
	if !isFIDOARN(serial) { // no lookup: a TOTP serial or ARN, or nothing this verifier issues
		return nil, notFIDO
	}
	d, err := c.ownDevice(serial, false)
	if err != nil {
		return nil, err
	}
	if d.Kind != verify.KindFIDO {
		return nil, notFIDO
	}
	if d.User == "" || (user != "" && d.User != user) {
		return nil, errf(404, "NoSuchEntity", "MFA Device with serial number %s does not exist.", serial)
	}
	return struct {
		UserName     string
		SerialNumber string
		EnableDate   string
	}{d.User, d.ID, isoTime(d.EnabledAt)}, nil
}

// isFIDOARN reports whether serial has the form of a FIDO security key's
// ARN, arn:aws:iam::ACCOUNT:u2f/user/NAME/KEYNAME-ID (IAM-SPEC.md §2).
func isFIDOARN(serial string) bool {
	rest, ok := strings.CutPrefix(serial, "arn:aws:iam::")
	if !ok {
		return false
	}
	_, res, ok := strings.Cut(rest, ":")
	return ok && strings.HasPrefix(res, "u2f/")
}

// Tags (virtual devices).

func tagMFADevice(c *call) (any, error) {
	serial := c.p.get("SerialNumber", true, ruleSerial)
	tags := c.p.tags(true)
	if err := c.p.err(); err != nil {
		return nil, err
	}
	if err := c.mayChange(serial); err != nil {
		return nil, err
	}
	if err := c.h.v.TagDevice(c.ctx, serial, tags); err != nil { // LimitExceeded past 50
		return nil, deviceError(c, serial, err)
	}
	return nil, nil
}

func untagMFADevice(c *call) (any, error) {
	serial := c.p.get("SerialNumber", true, ruleSerial)
	keys := c.p.list("TagKeys", "", 50)
	if len(keys) == 0 {
		c.p.errs = append(c.p.errs, "Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")
	}
	for i := range keys {
		c.p.get("TagKeys.member."+strconv.Itoa(i+1), true, ruleTagKey)
	}
	if err := c.p.err(); err != nil {
		return nil, err
	}
	if err := c.mayChange(serial); err != nil {
		return nil, err
	}
	if err := c.h.v.UntagDevice(c.ctx, serial, keys); err != nil {
		return nil, deviceError(c, serial, err)
	}
	return nil, nil
}

func listMFADeviceTags(c *call) (any, error) {
	serial := c.p.get("SerialNumber", true, ruleSerial)
	marker, max := c.p.page()
	if err := c.p.err(); err != nil {
		return nil, err
	}
	d, err := c.ownDevice(serial, true)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(d.Tags))
	for k := range d.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// The marker is the first key of the next page.
	start := 0
	if marker != "" {
		start = sort.SearchStrings(keys, marker)
		if start == len(keys) || keys[start] != marker {
			return nil, errValidation("Invalid Marker.")
		}
	}
	end := min(start+max, len(keys))
	res := struct {
		Tags struct {
			Member []xmlTag `xml:"member"`
		}
		listResult
	}{}
	for _, k := range keys[start:end] {
		res.Tags.Member = append(res.Tags.Member, xmlTag{k, d.Tags[k]})
	}
	if end < len(keys) {
		res.listResult = truncated(keys[end])
	}
	return res, nil
}
