package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/tokenlab/tokenlab/verify"
)

// StatusOf maps a verifier error code to its HTTP status. It is the only
// place that does, so the JSON API and its documentation (docs/api.md) agree:
//
//	EINVALID      400 Bad Request
//	EUNAUTHORIZED 401 Unauthorized
//	EFORBIDDEN    403 Forbidden
//	ECODE         403 Forbidden (enable, resync: a refused code; check answers 200)
//	ENOTFOUND     404 Not Found
//	ECONFLICT     409 Conflict
//	ELIMIT        409 Conflict (the 9th device)
//	ELOCKED       429 Too Many Requests
//	EINTERNAL     500 Internal Server Error (never for bad input)
//
// POST /api/v1/mfa/check does not use ECODE or ELOCKED: a refused code is a
// normal answer, 200 {"accepted":false,"reason":"…"}.
func StatusOf(code verify.ErrorCode) int {
	switch code {
	case verify.EINVALID:
		return http.StatusBadRequest
	case verify.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case verify.EFORBIDDEN, verify.ECODE:
		return http.StatusForbidden
	case verify.ENOTFOUND:
		return http.StatusNotFound
	case verify.ECONFLICT, verify.ELIMIT:
		return http.StatusConflict
	case verify.ELOCKED:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// ErrorBody is the JSON body of every error answer:
// {"error":{"code":"not_found","message":"…"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of [ErrorBody]. Code is a [verify.ErrorCode];
// Reason is set for refused codes and locked devices.
type ErrorDetail struct {
	Code        verify.ErrorCode `json:"code"`
	Message     string           `json:"message"`
	Reason      verify.Reason    `json:"reason,omitempty"`
	LockedUntil time.Time        `json:"locked_until,omitzero"`
}

// writeError answers err. Messages of *verify.Error values are safe to show
// (the verifier never puts a code or seed in them); any other error is an
// internal one and its text stays in the log.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ve *verify.Error
	if !errors.As(err, &ve) {
		s.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		ve = &verify.Error{Code: verify.EINTERNAL, Message: "internal error"}
	}
	status := StatusOf(ve.Code)
	if status == http.StatusInternalServerError {
		s.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "30")
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokenlab"`)
	}
	writeJSON(w, status, ErrorBody{Error: ErrorDetail{Code: ve.Code, Message: ve.Message, Reason: ve.Reason}})
}

func invalidf(format string, a ...any) error { return verify.Errorf(verify.EINVALID, format, a...) }
