package hub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// MaxBody is the default request body limit of /api/v1 routes; larger
// bodies get 413. Routes that take more declare it with Core.AllowBody.
const MaxBody = 1 << 20

// ServerBodyLimit is the largest body the server reads at all (uploads).
const ServerBodyLimit = 256 << 20

// AppOptions configures NewApp.
type AppOptions struct {
	BodyLimit int // the server-wide cap; default ServerBodyLimit
	Limits    HTTPLimits
	Logger    *slog.Logger
	Metrics   *Metrics
}

// HTTPLimits bound how long a client may hold a connection without doing
// its part, so slow clients (slowloris) cannot pin connections. A hijacked
// connection (a websocket) is no longer bound by them: fasthttp clears
// the deadlines on hijack and each socket keeps its own ping deadlines.
// Zero fields take the defaults.
type HTTPLimits struct {
	HeaderTimeout  time.Duration // from accept (or the first byte of a kept-alive request) to the end of the header; default 10s
	ReadTimeout    time.Duration // reading the body, from the end of the header; default 5m (uploads)
	WriteTimeout   time.Duration // writing the response; default 5m (downloads)
	IdleTimeout    time.Duration // a kept-alive connection waiting for its next request; default 60s
	MaxHeaderBytes int           // request line and headers; larger get 431; default 4096
}

func (l *HTTPLimits) defaults() {
	if l.HeaderTimeout <= 0 {
		l.HeaderTimeout = 10 * time.Second
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = 5 * time.Minute
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = 5 * time.Minute
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 60 * time.Second
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 4096
	}
}

// NewApp returns a Fiber app with the one ErrorHandler that maps errors to
// {"error":{"code","message","field"}} and their status.
func NewApp(o AppOptions) *fiber.App {
	if o.BodyLimit <= 0 {
		o.BodyLimit = ServerBodyLimit
	}
	o.Limits.defaults()
	app := fiber.New(fiber.Config{
		BodyLimit:             o.BodyLimit,
		DisableStartupMessage: true,
		ErrorHandler:          ErrorHandler(o.Logger),
		// The per-connection read buffer bounds the header (larger: 431).
		ReadBufferSize: o.Limits.MaxHeaderBytes,
		// It goes back to the pool once a request is read whole and nothing
		// more is buffered: a websocket then reads from the bare connection
		// instead of holding it for its whole life, and an idle kept-alive
		// connection holds none (4 KB each; about 5 % more CPU per request
		// at most, docs/benchmarks.md).
		ReduceMemoryUsage: true,
		// fasthttp's ReadTimeout runs from accept, or from the first byte
		// of a kept-alive request, to the end of the request: with the
		// body's own deadline set once the header is in (HeaderReceived,
		// below), it is the header timeout.
		ReadTimeout:  o.Limits.HeaderTimeout,
		WriteTimeout: o.Limits.WriteTimeout,
		IdleTimeout:  o.Limits.IdleTimeout,
	})
	// A hijacked connection (a websocket) is closed by its handler, not
	// by fasthttp when the hijack handler returns: Upgrade serves a
	// socket from a goroutine of its own and lets the request's context go.
	app.Server().KeepHijackedConns = true
	bodyTimeout := o.Limits.ReadTimeout
	app.Server().HeaderReceived = func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
		return fasthttp.RequestConfig{ReadTimeout: bodyTimeout}
	}
	if o.Metrics != nil {
		app.Use(func(c *fiber.Ctx) error {
			err := c.Next()
			status := c.Response().StatusCode()
			if err != nil {
				status = statusOf(err)
			}
			o.Metrics.HTTPRequests.WithLabelValues(fmt.Sprintf("%dxx", status/100)).Inc()
			return err
		})
	}
	return app
}

func statusOf(err error) int {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	return HTTPStatus(ErrorCode(err))
}

// ErrorHandler renders every error as JSON. *Error keeps its code; Fiber's
// own errors (404 route, 413 body) keep their status; anything else is an
// internal error, logged once here and hidden from the client.
func ErrorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		var e *Error
		var fe *fiber.Error
		switch {
		case errors.As(err, &e):
		case errors.As(err, &fe):
			e = &Error{Code: codeForStatus(fe.Code), Message: fe.Message}
			if fe.Code == fiber.StatusRequestEntityTooLarge {
				e.Message = "request body too large"
			}
		default:
			if log != nil {
				log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
			}
			e = &Error{Code: EInternal, Message: "internal error"}
		}
		status := HTTPStatus(e.Code)
		if fe != nil {
			status = fe.Code
		}
		return c.Status(status).JSON(fiber.Map{"error": e})
	}
}

func codeForStatus(status int) string {
	switch status {
	case 400:
		return EInvalid
	case 401:
		return EUnauthorized
	case 403:
		return EForbidden
	case 404:
		return ENotFound
	case 409:
		return EConflict
	case 413:
		return ETooLarge
	case 422:
		return EUnprocessable
	case 429:
		return ETooMany
	case 503:
		return EUnavailable
	}
	if status >= 500 {
		return EInternal
	}
	return EInvalid
}

// BindJSON decodes the request body into v strictly: a JSON object, no
// unknown fields, no trailing data, only valid UTF-8 text (encoding/json
// would store U+FFFD for the rest); errors name the field at fault.
func BindJSON(c *fiber.Ctx, v any) error {
	return DecodeJSON(c.Body(), v)
}

// DecodeJSON is BindJSON for a byte slice.
func DecodeJSON(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return FieldError("body", "a JSON object is required")
	}
	if err := CheckJSONText(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return FieldError("body", "unexpected data after the JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return FieldError(field, "must be %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return FieldError("body", "malformed JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return FieldError("body", "malformed JSON: unexpected end")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return FieldError(f, "unknown field")
	}
	return FieldError("body", "malformed JSON: %v", err)
}

func jsonKind(k string) string {
	switch k {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	}
	return k
}
