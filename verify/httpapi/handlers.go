package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"

	"github.com/tokenlab/tokenlab/provision"
	"github.com/tokenlab/tokenlab/provision/pskc"
	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"encoding the answer failed"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func noContent(w http.ResponseWriter) error {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// decode reads the JSON body of r into v, bounded by http.MaxBytesReader,
// which fails past MaxJSONBody by itself: DecodeJSON's io.LimitReader on
// top would change nothing but cost an allocation per request.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeBounded(http.MaxBytesReader(w, r.Body, MaxJSONBody), MaxJSONBody, v)
}

func pathUser(r *http.Request) (string, error) {
	n := r.PathValue("name")
	return n, ValidUserName(n, 128)
}

// --- users ---

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var req CreateUserRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := ValidUserName(req.Name, 64); err != nil {
		return err
	}
	if err := validPath(req.Path); err != nil {
		return err
	}
	if len(req.Password) > 128 {
		return invalidf("password over 128 characters")
	}
	u, err := s.v.CreateUser(r.Context(), req.Name, verify.UserOptions{Path: req.Path, Password: req.Password, Admin: req.Admin, RequireMFA: req.RequireMFA})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, u)
	return nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	prefix := r.URL.Query().Get("path_prefix")
	if prefix != "" {
		if len(prefix) > 512 || prefix[0] != '/' {
			return invalidf("path_prefix must start with / and be at most 512 characters")
		}
	}
	users, next, err := s.v.ListUsers(r.Context(), prefix, p)
	if err != nil {
		return err
	}
	if users == nil {
		users = []verify.User{}
	}
	writeJSON(w, http.StatusOK, UserList{Users: users, NextMarker: next})
	return nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	name, err := pathUser(r)
	if err != nil {
		return err
	}
	u, err := s.v.GetUser(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	name, err := pathUser(r)
	if err != nil {
		return err
	}
	if err := s.v.DeleteUser(r.Context(), name); err != nil {
		return err
	}
	return noContent(w)
}

func (s *Server) setPassword(w http.ResponseWriter, r *http.Request) error {
	name, err := pathUser(r)
	if err != nil {
		return err
	}
	var req PasswordRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Password == "" || len(req.Password) > 128 {
		return invalidf("password must be 1 to 128 characters")
	}
	if err := s.v.SetPassword(r.Context(), name, req.Password); err != nil {
		return err
	}
	return noContent(w)
}

func (s *Server) setRequireMFA(w http.ResponseWriter, r *http.Request) error {
	name, err := pathUser(r)
	if err != nil {
		return err
	}
	var req RequireMFARequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := s.v.SetRequireMFA(r.Context(), name, req.RequireMFA); err != nil {
		return err
	}
	return noContent(w)
}

func (s *Server) listUserDevices(w http.ResponseWriter, r *http.Request) error {
	name, err := pathUser(r)
	if err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	devs, next, err := s.v.ListDevices(r.Context(), name, p)
	if err != nil {
		return err
	}
	return writeDevices(w, devs, next)
}

func writeDevices(w http.ResponseWriter, devs []verify.Device, next string) error {
	if devs == nil {
		devs = []verify.Device{}
	}
	writeJSON(w, http.StatusOK, DeviceList{Devices: devs, NextMarker: next})
	return nil
}

// --- inventory ---

// ParseTokenLines reads an import body: one [TokenLine] JSON object per
// line (blank lines skipped). It reads and checks every line before it
// returns, so a bad line anywhere imports nothing.
func ParseTokenLines(body io.Reader) ([]verify.TokenRecord, error) {
	var recs []verify.TokenRecord
	seen := map[token.Serial]int{}
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if len(recs) >= MaxImportRecords {
			return nil, invalidf("more than %d records in one import", MaxImportRecords)
		}
		var tl TokenLine
		if err := decodeBytes(line, &tl); err != nil {
			return nil, invalidf("line %d: %s", n, message(err))
		}
		rec, err := tl.Record()
		if err != nil {
			return nil, invalidf("line %d: %s", n, message(err))
		}
		if first, dup := seen[rec.Serial]; dup {
			return nil, invalidf("line %d: serial %s already on line %d", n, rec.Serial, first)
		}
		seen[rec.Serial] = n
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, invalidf("import body over %d bytes", mbe.Limit)
		case errors.Is(err, bufio.ErrTooLong):
			return nil, invalidf("a line of the import is over 64 KiB")
		}
		return nil, invalidf("reading import body: %v", err)
	}
	if len(recs) == 0 {
		return nil, invalidf("no records in the import body")
	}
	return recs, nil
}

// Record checks a line and returns it as a token record. Errors are
// *verify.Error (EINVALID) and never contain the seed.
func (tl TokenLine) Record() (verify.TokenRecord, error) {
	serial, err := token.ParseSerial(tl.Serial)
	if err != nil {
		return verify.TokenRecord{}, invalidf("%v", err)
	}
	spec := token.DefaultSpec
	if tl.Algorithm != "" {
		if spec.Algorithm, err = token.ParseAlgorithm(tl.Algorithm); err != nil {
			return verify.TokenRecord{}, invalidf("serial %s: %v", serial, err)
		}
	}
	if tl.Digits != 0 {
		spec.Digits = tl.Digits
	}
	if tl.Period != 0 {
		if tl.Period < 0 || tl.Period > 3600 {
			return verify.TokenRecord{}, invalidf("serial %s: period %d out of range", serial, tl.Period)
		}
		spec.Period = time.Duration(tl.Period) * time.Second
	}
	if err := spec.Validate(); err != nil {
		return verify.TokenRecord{}, invalidf("serial %s: %v", serial, err)
	}
	seed, err := token.ParseBase32Seed(tl.Seed)
	if err != nil {
		return verify.TokenRecord{}, invalidf("serial %s: %v", serial, err)
	}
	return verify.TokenRecord{Serial: serial, Spec: spec, Seed: seed}, nil
}

// ParseSeedFile reads an unencrypted seed file (PSKC or one of the CSV
// layouts, see package provision) of TOTP tokens. Like [ParseTokenLines] it
// reads and checks everything before it returns.
func ParseSeedFile(body io.Reader, f provision.Format) ([]verify.TokenRecord, error) {
	rd, err := provision.OpenReader(body, provision.ReadOptions{Format: f})
	if err != nil {
		return nil, seedFileErr(err)
	}
	defer rd.Close()
	var recs []verify.TokenRecord
	for n := 1; ; n++ {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			wipeRecords(recs)
			return nil, seedFileErr(err)
		}
		switch {
		case n > MaxImportRecords:
			rec.Seed.Wipe()
			wipeRecords(recs)
			return nil, invalidf("more than %d records in one import", MaxImportRecords)
		case rec.Type == token.HOTP:
			rec.Seed.Wipe()
			wipeRecords(recs)
			return nil, invalidf("record %d (serial %s) is an HOTP token; the verifier takes TOTP tokens only", n, rec.Serial)
		case len(rec.Seed) == 0:
			wipeRecords(recs)
			return nil, invalidf("record %d (serial %s) has no seed", n, rec.Serial)
		}
		recs = append(recs, verify.TokenRecord{Serial: rec.Serial, Spec: rec.Spec, Seed: rec.Seed})
	}
	if len(recs) == 0 {
		return nil, invalidf("no records in the seed file")
	}
	return recs, nil
}

func wipeRecords(recs []verify.TokenRecord) {
	for _, r := range recs {
		r.Seed.Wipe()
	}
}

func seedFileErr(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return invalidf("import body over %d bytes", mbe.Limit)
	case errors.Is(err, pskc.ErrKeyRequired):
		return invalidf("the PSKC file is encrypted: decrypt it on the client (tokenlab provision import FILE --psk-file F) and send the records")
	}
	return invalidf("seed file: %s", truncate(err.Error()))
}

func (s *Server) importTokens(w http.ResponseWriter, r *http.Request) error {
	mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	body := http.MaxBytesReader(w, r.Body, MaxImportBody)
	var recs []verify.TokenRecord
	var err error
	switch strings.TrimSpace(strings.ToLower(mt)) {
	case "", "application/x-ndjson", "application/jsonl", "application/json", "text/plain":
		recs, err = ParseTokenLines(body)
	case "application/pskc+xml", "application/xml", "text/xml":
		recs, err = ParseSeedFile(body, provision.FormatPSKC)
	case "text/csv", "application/octet-stream":
		recs, err = ParseSeedFile(body, "")
	default:
		return invalidf("Content-Type %q: send application/x-ndjson records, or a seed file as application/pskc+xml or text/csv", truncate(mt))
	}
	if err != nil {
		return err
	}
	defer func() {
		for _, rec := range recs {
			rec.Seed.Wipe()
		}
	}()
	res, err := s.v.ImportTokens(r.Context(), verify.TokenList(recs...))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) listInventory(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	st := verify.State(r.URL.Query().Get("state"))
	switch st {
	case "", verify.StateAvailable, verify.StateAssigned, verify.StateLost:
	default:
		return invalidf("state must be available, assigned or lost")
	}
	devs, next, err := s.v.ListInventory(r.Context(), st, p)
	if err != nil {
		return err
	}
	return writeDevices(w, devs, next)
}

// --- virtual devices ---

func (s *Server) createVirtual(w http.ResponseWriter, r *http.Request) error {
	var req CreateVirtualRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := token.ValidMFAName(req.Name); err != nil {
		return invalidf("%v", err)
	}
	if err := validPath(req.Path); err != nil {
		return err
	}
	if err := ValidTags(req.Tags); err != nil {
		return err
	}
	vd, err := s.v.CreateVirtual(r.Context(), req.Name, req.Path, req.Tags)
	if err != nil {
		return err
	}
	defer vd.Seed.Wipe()
	png, err := QRPNG(vd.URI)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, VirtualBootstrap{Device: vd.Device, SeedBase32: vd.Seed.Base32(), URI: vd.URI, QRPNG: png})
	return nil
}

// QRPNG renders uri as a QR code PNG (error correction M, 256×256 pixels).
func QRPNG(uri string) ([]byte, error) {
	code, err := qr.Encode(uri, qr.M, qr.Auto)
	if err != nil {
		return nil, err
	}
	code, err = barcode.Scale(code, 256, 256)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, code); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (s *Server) listVirtual(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	a := verify.AssignmentAny
	switch q := r.URL.Query().Get("assignment"); strings.ToLower(q) {
	case "", "any":
	case "assigned":
		a = verify.AssignmentAssigned
	case "unassigned":
		a = verify.AssignmentUnassigned
	default:
		return invalidf("assignment must be Any, Assigned or Unassigned")
	}
	devs, next, err := s.v.ListVirtual(r.Context(), a, p)
	if err != nil {
		return err
	}
	return writeDevices(w, devs, next)
}

func queryDevice(r *http.Request) (string, error) {
	q := r.URL.Query()
	if len(q["id"]) > 1 {
		return "", invalidf("id given more than once")
	}
	id := q.Get("id")
	if id == "" {
		return "", invalidf("missing ?id=SERIAL_OR_ARN")
	}
	return id, ValidDevice(id)
}

func (s *Server) deleteVirtual(w http.ResponseWriter, r *http.Request) error {
	id, err := queryDevice(r)
	if err != nil {
		return err
	}
	if _, err := token.ParseMFAARN(id); err != nil {
		return invalidf("%v", err)
	}
	if err := s.v.DeleteVirtual(r.Context(), id); err != nil {
		return err
	}
	return noContent(w)
}

// --- MFA ---

func validTwoCodes(req TwoCodesRequest) error {
	if err := ValidUserName(req.User, 128); err != nil {
		return err
	}
	if err := ValidDevice(req.Device); err != nil {
		return err
	}
	if err := ValidCode("code1", req.Code1); err != nil {
		return err
	}
	return ValidCode("code2", req.Code2)
}

func (s *Server) enable(w http.ResponseWriter, r *http.Request) error {
	var req TwoCodesRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := validTwoCodes(req); err != nil {
		return err
	}
	if err := s.v.Enable(r.Context(), req.User, req.Device, req.Code1, req.Code2); err != nil {
		return err
	}
	return noContent(w)
}

func (s *Server) resync(w http.ResponseWriter, r *http.Request) error {
	var req TwoCodesRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := validTwoCodes(req); err != nil {
		return err
	}
	if err := s.v.Resync(r.Context(), req.User, req.Device, req.Code1, req.Code2); err != nil {
		return err
	}
	return noContent(w)
}

// ValidCheck checks a check request's fields.
func ValidCheck(req CheckRequest) error {
	if err := ValidUserName(req.User, 128); err != nil {
		return err
	}
	if err := ValidDevice(req.Device); err != nil {
		return err
	}
	return ValidCode("code", req.Code)
}

func (s *Server) check(w http.ResponseWriter, r *http.Request) error {
	var req CheckRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := ValidCheck(req); err != nil {
		return err
	}
	d, err := s.v.Check(r.Context(), req.User, req.Device, req.Code)
	if err != nil {
		// A refused code is an answer, not an error, whichever way the
		// verifier reports it.
		var ve *verify.Error
		if !errors.As(err, &ve) || (ve.Code != verify.ECODE && ve.Code != verify.ELOCKED) {
			return err
		}
		d = verify.Decision{Accepted: false, Reason: ve.Reason}
		if d.Reason == "" {
			d.Reason = verify.ReasonWrong
			if ve.Code == verify.ELOCKED {
				d.Reason = verify.ReasonLocked
			}
		}
	}
	s.metrics.Decision(d)
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) deactivate(w http.ResponseWriter, r *http.Request) error {
	var req UserDeviceRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := ValidUserName(req.User, 128); err != nil {
		return err
	}
	if err := ValidDevice(req.Device); err != nil {
		return err
	}
	if err := s.v.Deactivate(r.Context(), req.User, req.Device); err != nil {
		return err
	}
	return noContent(w)
}

func (s *Server) deviceBody(w http.ResponseWriter, r *http.Request) (string, error) {
	var req DeviceRequest
	if err := decode(w, r, &req); err != nil {
		return "", err
	}
	return req.Device, ValidDevice(req.Device)
}

func (s *Server) lost(w http.ResponseWriter, r *http.Request) error {
	id, err := s.deviceBody(w, r)
	if err != nil {
		return err
	}
	users, err := s.v.MarkLost(r.Context(), id)
	if err != nil {
		return err
	}
	if users == nil {
		users = []string{}
	}
	writeJSON(w, http.StatusOK, LostResult{Device: id, DetachedFrom: users})
	return nil
}

func (s *Server) unlock(w http.ResponseWriter, r *http.Request) error {
	id, err := s.deviceBody(w, r)
	if err != nil {
		return err
	}
	if err := s.v.Unlock(r.Context(), id); err != nil {
		return err
	}
	return noContent(w)
}

func (s *Server) getDevice(w http.ResponseWriter, r *http.Request) error {
	id, err := queryDevice(r)
	if err != nil {
		return err
	}
	d, err := s.v.GetDevice(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) tag(w http.ResponseWriter, r *http.Request) error {
	var req TagRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := ValidDevice(req.Device); err != nil {
		return err
	}
	if len(req.Tags) == 0 {
		return invalidf("tags is empty")
	}
	if err := ValidTags(req.Tags); err != nil {
		return err
	}
	if err := s.v.TagDevice(r.Context(), req.Device, req.Tags); err != nil {
		return err
	}
	return noContent(w)
}

func (s *Server) untag(w http.ResponseWriter, r *http.Request) error {
	var req UntagRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := ValidDevice(req.Device); err != nil {
		return err
	}
	if len(req.Keys) == 0 || len(req.Keys) > MaxTags {
		return invalidf("keys must list 1 to %d tag keys", MaxTags)
	}
	for _, k := range req.Keys {
		if err := validTagKey(k); err != nil {
			return err
		}
	}
	if err := s.v.UntagDevice(r.Context(), req.Device, req.Keys); err != nil {
		return err
	}
	return noContent(w)
}

// --- audit ---

func (s *Server) audit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := verify.AuditFilter{User: q.Get("user"), Device: q.Get("device"), Action: q.Get("action")}
	if f.User != "" {
		if err := ValidUserName(f.User, 128); err != nil {
			return err
		}
	}
	if f.Device != "" {
		if err := ValidDevice(f.Device); err != nil {
			return err
		}
	}
	if len(f.Action) > 64 {
		return invalidf("action over 64 characters")
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return invalidf("since must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
		f.Since = t
	}
	f.Limit = 100
	if v := q.Get("limit"); v != "" {
		n := 0
		for _, c := range v {
			if c < '0' || c > '9' || n > MaxPage {
				n = -1
				break
			}
			n = n*10 + int(c-'0')
		}
		if n < 1 || n > MaxPage {
			return invalidf("limit must be a number from 1 to %d", MaxPage)
		}
		f.Limit = n
	}
	evs, err := s.v.Audit(r.Context(), f)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []verify.AuditEvent{}
	}
	writeJSON(w, http.StatusOK, AuditList{Events: evs})
	return nil
}

// message is the safe text of a *verify.Error.
func message(err error) string {
	var ve *verify.Error
	if errors.As(err, &ve) {
		return ve.Message
	}
	return "invalid"
}
