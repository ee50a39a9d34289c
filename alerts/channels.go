package alerts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// message is one queued row handed to a channel.
type message struct {
	ID      int64
	Source  string
	Phase   string
	To      string
	Subject string
	Body    string
	Payload json.RawMessage
}

// permanent marks a failure a retry cannot mend (a 4xx answer, a refused
// address): the row is failed at once.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// retryAfter is a failure whose answer said when to try again (HTTP 429).
type retryAfter struct {
	error
	after time.Duration
}

// WebhookSignatureHeader carries "sha256={hex HMAC-SHA256 of
// "{timestamp}.{body}" with the channel's secret}"; WebhookTimestampHeader
// the Unix time it was signed at. A receiver recomputes the MAC and refuses
// a timestamp older than a few minutes.
const (
	WebhookSignatureHeader = "X-CommuneHub-Signature"
	WebhookTimestampHeader = "X-CommuneHub-Timestamp"
	WebhookIDHeader        = "X-CommuneHub-Delivery" // the queue row's id: the same on every retry, for the receiver to drop duplicates
)

// WebhookSignature is the signature a webhook body carries.
func WebhookSignature(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp + "."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// deliver sends m over ch.
func (s *Service) deliver(ctx context.Context, ch Channel, m message) error {
	cfg, err := ParseChannelConfig(ch.Kind, ch.Config)
	if err != nil {
		return permanent{fmt.Errorf("channel %s: %w", ch.Name, err)}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	defer cancel()
	switch c := cfg.(type) {
	case EmailConfig:
		return sendEmail(ctx, c, m)
	case WebhookConfig:
		body, _ := json.Marshal(map[string]any{"id": m.ID, "subject": m.Subject, "text": m.Body, "event": m.Payload})
		ts := strconv.FormatInt(s.now().Unix(), 10)
		return s.post(ctx, c.URL, body, map[string]string{WebhookTimestampHeader: ts,
			WebhookSignatureHeader: WebhookSignature(c.Secret, ts, body), WebhookIDHeader: strconv.FormatInt(m.ID, 10)}, nil)
	case TelegramConfig:
		// https://core.telegram.org/bots/api#sendmessage
		body, _ := json.Marshal(map[string]any{"chat_id": m.To, "text": m.Subject + "\n\n" + m.Body, "disable_web_page_preview": true})
		return s.post(ctx, strings.TrimRight(c.BaseURL, "/")+"/bot"+c.Token+"/sendMessage", body, nil, telegramAnswer)
	case ZaloConfig:
		// Zalo OA API v3 "consultation" message: POST /v3.0/oa/message/cs
		// with the token in the access_token header.
		body, _ := json.Marshal(map[string]any{"recipient": map[string]string{"user_id": m.To},
			"message": map[string]string{"text": clip(m.Subject+"\n\n"+m.Body, 2000)}})
		return s.post(ctx, strings.TrimRight(c.BaseURL, "/")+"/v3.0/oa/message/cs", body, map[string]string{"access_token": c.AccessToken}, zaloAnswer)
	}
	return permanent{fmt.Errorf("channel kind %s", ch.Kind)}
}

// post sends a JSON body; answer (optional) reads a 2xx body for an error
// the API reports inside it.
func (s *Service) post(ctx context.Context, url string, body []byte, hdr map[string]string, answer func([]byte) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return permanent{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "CommuneHub-alerts")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return redact(err, url)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		after, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if after == 0 {
			var t struct {
				Parameters struct {
					RetryAfter int `json:"retry_after"`
				} `json:"parameters"`
			}
			_ = json.Unmarshal(b, &t)
			after = t.Parameters.RetryAfter
		}
		return retryAfter{fmt.Errorf("HTTP 429: %s", clip(string(b), 200)), time.Duration(after) * time.Second}
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, clip(string(b), 200))
	case resp.StatusCode >= 300:
		return permanent{fmt.Errorf("HTTP %d: %s", resp.StatusCode, clip(string(b), 200))}
	}
	if answer != nil {
		return answer(b)
	}
	return nil
}

// redact keeps a bot token (in a Telegram URL) out of an error that is
// stored and shown.
func redact(err error, url string) error {
	return errors.New(strings.ReplaceAll(err.Error(), url, "(the channel's URL)"))
}

func telegramAnswer(b []byte) error {
	var a struct {
		OK          bool   `json:"ok"`
		Description string `json:"description"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("telegram answered %q", clip(string(b), 200))
	}
	if !a.OK {
		return permanent{fmt.Errorf("telegram: %s", a.Description)}
	}
	return nil
}

func zaloAnswer(b []byte) error {
	var a struct {
		Error   *int   `json:"error"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(b, &a); err != nil || a.Error == nil {
		return fmt.Errorf("zalo answered %q", clip(string(b), 200))
	}
	if *a.Error != 0 {
		return permanent{fmt.Errorf("zalo error %d: %s", *a.Error, a.Message)}
	}
	return nil
}

// sendEmail sends m over SMTP: implicit TLS, STARTTLS (refused if the
// server does not offer it) or none; PLAIN auth when a username is set.
func sendEmail(ctx context.Context, c EmailConfig, m message) error {
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	tlsCfg := &tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12}
	if c.CAPEM != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(c.CAPEM)) {
			return permanent{errors.New("config.ca_pem holds no certificate")}
		}
		tlsCfg.RootCAs = pool
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if c.Security == "tls" {
		conn = tls.Client(conn, tlsCfg)
	}
	cl, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		conn.Close()
		return err
	}
	defer cl.Close()
	if c.Security == "starttls" {
		if ok, _ := cl.Extension("STARTTLS"); !ok {
			return permanent{errors.New("the SMTP server does not offer STARTTLS (security: starttls)")}
		}
		if err := cl.StartTLS(tlsCfg); err != nil {
			return err
		}
	}
	if c.Username != "" {
		if err := cl.Auth(smtp.PlainAuth("", c.Username, c.Password, c.Host)); err != nil {
			return smtpError(err)
		}
	}
	if err := cl.Mail(c.From); err != nil {
		return smtpError(err)
	}
	if err := cl.Rcpt(m.To); err != nil {
		return smtpError(err)
	}
	w, err := cl.Data()
	if err != nil {
		return smtpError(err)
	}
	if _, err := w.Write(emailBytes(c.From, m)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return smtpError(err)
	}
	return cl.Quit()
}

// smtpError: a 5xx reply is permanent, a 4xx one is worth a retry.
func smtpError(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return permanent{err}
	}
	return err
}

// emailBytes is the RFC 5322 message: UTF-8 subject (RFC 2047) and a
// base64 text body, so Vietnamese passes any relay.
func emailBytes(from string, m message) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <alert-%d@communehub>\r\n",
		from, m.To, mime.BEncoding.Encode("utf-8", m.Subject), time.Now().Format(time.RFC1123Z), m.ID)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString([]byte(m.Body))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return b.Bytes()
}
