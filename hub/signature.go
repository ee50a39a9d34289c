package hub

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SignatureSkew is how far a signed request's X-Timestamp may be from the
// hub's clock, either way. A signature is remembered for as long as its
// timestamp is acceptable, so it can be used once.
const SignatureSkew = 5 * time.Minute

// signatureHelp says what a token with a secret must send; every refusal
// of a signed request repeats it.
const signatureHelp = "send X-Timestamp: <unix seconds> and X-Signature: sha256=<hex HMAC-SHA256 with the token's secret of " +
	`METHOD "\n" PATH "\n" SORTED_QUERY "\n" TIMESTAMP "\n" hex(SHA-256(body))> (docs/api.md, "Signed requests")`

// CanonicalRequest is the string a signed request signs:
//
//	METHOD "\n" PATH "\n" SORTED_QUERY "\n" TIMESTAMP "\n" hex(SHA-256(body))
//
// PATH is the path as sent in the request line (percent-escapes and all,
// without the query); SORTED_QUERY is CanonicalQuery of the query as sent;
// TIMESTAMP is the X-Timestamp header as sent (unix seconds).
func CanonicalRequest(method, path, rawQuery, timestamp string, body []byte) string {
	sum := sha256.Sum256(body)
	return method + "\n" + path + "\n" + CanonicalQuery(rawQuery) + "\n" + timestamp + "\n" + hex.EncodeToString(sum[:])
}

// CanonicalQuery returns a raw query string's name=value pairs as sent
// (still percent-encoded), empty ones dropped, sorted bytewise and joined
// with "&", so that a client library that reorders parameters still signs
// what the hub checks.
func CanonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	parts := strings.Split(raw, "&")
	parts = slices.DeleteFunc(parts, func(s string) bool { return s == "" })
	slices.Sort(parts)
	return strings.Join(parts, "&")
}

// SignRequest returns the X-Signature header value of a request, for
// clients and tests: "sha256=" and the hex HMAC-SHA256 of CanonicalRequest.
func SignRequest(secret, method, path, rawQuery, timestamp string, body []byte) string {
	return "sha256=" + hex.EncodeToString(signatureMAC(secret, CanonicalRequest(method, path, rawQuery, timestamp, body)))
}

func signatureMAC(secret, s string) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(s))
	return mac.Sum(nil)
}

// ParseSignature parses the X-Signature and X-Timestamp headers of a signed
// request. It checks their form only; the error names the header at fault.
func ParseSignature(sig, ts string) (mac []byte, unix int64, err *Error) {
	bad := func(field, format string, args ...any) *Error {
		return &Error{Code: EUnauthorized, Field: field, Message: fmt.Sprintf(format, args...) + "; " + signatureHelp}
	}
	if sig == "" {
		return nil, 0, bad("X-Signature", "this token's requests must be signed")
	}
	if ts == "" {
		return nil, 0, bad("X-Timestamp", "X-Timestamp is missing: a signature covers the method, path, query, a timestamp and the body, not the body alone")
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return nil, 0, bad("X-Signature", "X-Signature must be sha256= and 64 hex digits")
	}
	mac, herr := hex.DecodeString(hexSig)
	if herr != nil {
		return nil, 0, bad("X-Signature", "X-Signature must be sha256= and 64 hex digits")
	}
	// Digits only: strconv would also take a sign, which a client signing
	// "+1733" and the hub reading 1733 must not disagree about.
	if len(ts) > 12 || strings.Trim(ts, "0123456789") != "" {
		return nil, 0, bad("X-Timestamp", "X-Timestamp must be unix seconds (digits only)")
	}
	unix, perr := strconv.ParseInt(ts, 10, 64)
	if perr != nil {
		return nil, 0, bad("X-Timestamp", "X-Timestamp must be unix seconds (digits only)")
	}
	return mac, unix, nil
}

// signedRequest is what checkSignature needs of a request.
type signedRequest struct {
	method, path, query string
	sig, ts             string
	body                []byte
}

// checkSignature verifies a signed token's request: the form of its
// headers, the timestamp within SignatureSkew of now, the HMAC over
// CanonicalRequest, and that the signature was not used before (on any
// instance: used signatures are kept in PostgreSQL). A nil error admits it.
func (a *Auth) checkSignature(ctx context.Context, secret string, r signedRequest) error {
	mac, unix, perr := ParseSignature(r.sig, r.ts)
	if perr != nil {
		return perr
	}
	now := a.now()
	when := time.Unix(unix, 0)
	if d := now.Sub(when); d > SignatureSkew || d < -SignatureSkew {
		return &Error{Code: EUnauthorized, Field: "X-Timestamp", Message: fmt.Sprintf(
			"X-Timestamp %s is %.0f s from the hub's clock (%d); at most %.0f s are allowed; sign each request when it is sent",
			r.ts, now.Sub(when).Seconds(), now.Unix(), SignatureSkew.Seconds())}
	}
	want := signatureMAC(secret, CanonicalRequest(r.method, r.path, r.query, r.ts, r.body))
	if subtle.ConstantTimeCompare(want, mac) != 1 {
		msg := "X-Signature does not match this request"
		if bodyOnly := signatureMAC(secret, string(r.body)); subtle.ConstantTimeCompare(bodyOnly, mac) == 1 {
			msg = "X-Signature is a signature of the body alone, which is no longer accepted"
		}
		return &Error{Code: EUnauthorized, Field: "X-Signature", Message: msg + "; " + signatureHelp}
	}
	fresh, err := a.useSignature(ctx, mac, when.Add(SignatureSkew), now)
	if err != nil {
		return Errorf(EUnavailable, "cannot check the signature: database unavailable")
	}
	if !fresh {
		return &Error{Code: EUnauthorized, Field: "X-Signature",
			Message: "this signature was already used; sign every request, and every retry, afresh with the current X-Timestamp"}
	}
	return nil
}

// pruneEvery is how often an instance deletes expired used signatures.
const pruneEvery = time.Minute

// useSignature records mac as used until expires; false when it already
// was. About once a minute it also deletes the expired ones, so the table
// holds at most the signatures of the last 2×SignatureSkew.
func (a *Auth) useSignature(ctx context.Context, mac []byte, expires, now time.Time) (bool, error) {
	if last := a.pruned.Load(); now.UnixNano()-last > int64(pruneEvery) && a.pruned.CompareAndSwap(last, now.UnixNano()) {
		if _, err := a.pool.Exec(ctx, `DELETE FROM used_signatures WHERE expires_at < $1`, now); err != nil {
			a.pruned.Store(last)
			return false, err
		}
	}
	tag, err := a.pool.Exec(ctx, `INSERT INTO used_signatures(mac, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, mac, expires)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}
