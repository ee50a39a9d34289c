package alerts

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// An acknowledgement link is /alerts/ack/{token}, token =
// base64url("{source}\n{to}\n{expires unix}") "." base64url(HMAC-SHA256):
// signed with the hub key, good until it expires, and used once (its MAC is
// kept in alert_used_links). Anyone holding the message may acknowledge:
// it says who it was sent to, and the acknowledgement is recorded as
// "link:{to}".

var errBadLink = errors.New("the link is damaged or was not made by this hub")

func signLink(key []byte, source, to string, expires time.Time) string {
	msg := source + "\n" + to + "\n" + strconv.FormatInt(expires.Unix(), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(msg)) + "." + base64.RawURLEncoding.EncodeToString(linkMAC(key, msg))
}

func linkMAC(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("communehub-alert-ack\n" + msg))
	return m.Sum(nil)
}

// link is a verified acknowledgement link.
type link struct {
	Source, To string
	Expires    time.Time
	MAC        []byte
}

// parseLink checks token's signature; the caller checks expiry and use.
func parseLink(key []byte, token string) (link, error) {
	if len(token) > 2048 {
		return link{}, errBadLink
	}
	body, sig, ok := strings.Cut(token, ".")
	if !ok {
		return link{}, errBadLink
	}
	msg, err1 := base64.RawURLEncoding.DecodeString(body)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, linkMAC(key, string(msg))) {
		return link{}, errBadLink
	}
	parts := strings.Split(string(msg), "\n")
	if len(parts) != 3 {
		return link{}, errBadLink
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return link{}, errBadLink
	}
	return link{Source: parts[0], To: parts[1], Expires: time.Unix(exp, 0), MAC: mac}, nil
}
