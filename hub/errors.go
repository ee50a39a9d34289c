package hub

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes. Each maps to one HTTP status in HTTPStatus.
const (
	EInvalid       = "invalid"       // 400: malformed input
	EUnprocessable = "unprocessable" // 422: well-formed input that breaks a rule
	EUnauthorized  = "unauthorized"  // 401
	EForbidden     = "forbidden"     // 403
	ENotFound      = "not_found"     // 404
	EConflict      = "conflict"      // 409
	ETooLarge      = "too_large"     // 413
	ETooMany       = "too_many"      // 429: throttled; the response says when to retry
	EUnavailable   = "unavailable"   // 503
	EInternal      = "internal"      // 500
)

// Error is the one application error type. Field names the input field at
// fault, when there is one; Details carries structured extras (for example
// the allowed transitions of a state machine, or per-row import errors).
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Details any    `json:"details,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (field %s)", e.Code, e.Message, e.Field)
	}
	return e.Code + ": " + e.Message
}

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EInvalid error naming the field at fault.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, EInternal when err is not an *Error.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// HTTPStatus maps an error code to its HTTP status.
func HTTPStatus(code string) int {
	switch code {
	case EInvalid:
		return http.StatusBadRequest
	case EUnprocessable:
		return http.StatusUnprocessableEntity
	case EUnauthorized:
		return http.StatusUnauthorized
	case EForbidden:
		return http.StatusForbidden
	case ENotFound:
		return http.StatusNotFound
	case EConflict:
		return http.StatusConflict
	case ETooLarge:
		return http.StatusRequestEntityTooLarge
	case ETooMany:
		return http.StatusTooManyRequests
	case EUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}
