package alerts

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/communehub/communehub/devices"
	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/hub/hubtest"
)

func TestMain(m *testing.M) { hubtest.Main(m) }

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// mailbox is an SMTP server in the test process (go-smtp) that accepts
// PLAIN auth as user/secret and keeps every message.
type mailbox struct {
	Addr string
	mu   sync.Mutex
	msgs []mailMsg
	fail int // the next fail transactions get a 451
}

type mailMsg struct {
	From, To, Subject, Body string
	Raw                     []byte
	User                    string
	TLS                     bool // the transaction ran over TLS (STARTTLS)
}

func newMailbox(t *testing.T) *mailbox { return newMailboxTLS(t, nil) }

// newMailboxTLS is a mailbox offering STARTTLS with tlsCfg (none when
// nil); with TLS it refuses authentication before STARTTLS.
func newMailboxTLS(t *testing.T, tlsCfg *tls.Config) *mailbox {
	mb := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &mailSession{mb: mb, conn: c}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = tlsCfg == nil
	srv.TLSConfig = tlsCfg
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mb.Addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return mb
}

func (mb *mailbox) messages() []mailMsg {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]mailMsg(nil), mb.msgs...)
}

// count returns how many messages went to to with subject containing sub.
func (mb *mailbox) count(to, sub string) int {
	n := 0
	for _, m := range mb.messages() {
		if m.To == to && strings.Contains(m.Subject, sub) {
			n++
		}
	}
	return n
}

type mailSession struct {
	mb       *mailbox
	conn     *smtp.Conn
	user     string
	from, to string
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != "user" || pass != "secret" {
			return errors.New("bad credentials")
		}
		s.user = user
		return nil
	}), nil
}
func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = to; return nil }
func (s *mailSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	defer s.mb.mu.Unlock()
	if s.mb.fail > 0 {
		s.mb.fail--
		return &smtp.SMTPError{Code: 451, Message: "try again later"}
	}
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		return err
	}
	subj, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	body, _ := io.ReadAll(m.Body)
	dec, _ := decodeBase64Lines(string(body))
	_, overTLS := s.conn.TLSConnectionState()
	s.mb.msgs = append(s.mb.msgs, mailMsg{From: s.from, To: s.to, Subject: subj, Body: dec, Raw: raw, User: s.user, TLS: overTLS})
	return nil
}
func (s *mailSession) Reset()        { s.from, s.to = "", "" }
func (s *mailSession) Logout() error { return nil }

// recorder is an HTTP server that keeps every request as received and
// answers with the next status of its script (then 200 and answer).
type recorder struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	script []int
	answer string
}

type recorded struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

func newRecorder(t *testing.T, answer string) *recorder {
	r := &recorder{answer: answer}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, recorded{req.Method, req.URL.Path, req.Header.Clone(), b})
		status := 200
		if len(r.script) > 0 {
			status, r.script = r.script[0], r.script[1:]
		}
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, r.answer)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

// webhookPhases returns the phase of each successful-or-not webhook call's
// event, in order.
func webhookEvents(t *testing.T, r *recorder) []map[string]any {
	var out []map[string]any
	for _, q := range r.requests() {
		var b struct {
			Event map[string]any `json:"event"`
		}
		if err := json.Unmarshal(q.Body, &b); err != nil {
			t.Fatalf("webhook body %q: %v", q.Body, err)
		}
		out = append(out, b.Event)
	}
	return out
}

func newPool(t *testing.T) *pgxpool.Pool {
	pool, _ := hubtest.NewDB(t, hub.Migrations, devices.Migrations, Migrations)
	if err := hub.SeedUnits(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

// fastConfig is a Config whose waits suit a test.
func fastConfig() Config {
	return Config{PublicURL: "http://hub.test", Hold: NoHold, Tick: 30 * time.Millisecond, Poll: 30 * time.Millisecond,
		EscalateAfter: time.Hour, RecoverAfter: 3 * time.Second, RetryBase: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, SendTimeout: hubtest.Timeout(5 * time.Second)}
}

// running is an alerts service running on its own strict bus, where the
// test publishes the devices feature's snapshots.
type running struct {
	svc    *Service
	bus    *hub.Bus
	topics *hub.Topics
	reg    *hub.Metrics
	cancel context.CancelFunc
	done   chan error
}

func startAlerts(t *testing.T, pool *pgxpool.Pool, cfg Config, acker Acker, bus *hub.Bus, topics *hub.Topics) *running {
	t.Helper()
	if topics == nil {
		topics = hub.NewTopics(nil)
		if err := devices.DeclareTopics(topics); err != nil {
			t.Fatal(err)
		}
		bus = hub.NewBus(hub.BusOptions{Topics: topics, Strict: true})
	}
	m := hub.NewMetrics()
	svc, err := New(cfg, acker, hub.Deps{Pool: pool, Bus: bus, Topics: topics, Metrics: m, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r := &running{svc: svc, bus: bus, topics: topics, reg: m, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- svc.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
	}
}

// publish puts a commune/03244/devices snapshot on the bus.
func (r *running) publish(t *testing.T, snapshot string) {
	t.Helper()
	if _, err := r.bus.Publish(devices.UnitTopic("03244"), json.RawMessage(snapshot)); err != nil {
		t.Fatal(err)
	}
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// addChannel stores a channel straight in the database.
func addChannel(t *testing.T, pool *pgxpool.Pool, name, kind, config string) int64 {
	t.Helper()
	var id int64
	if err := pool.QueryRow(context.Background(), `INSERT INTO alert_channels(name, kind, config, rate_per_min) VALUES ($1,$2,$3,600) RETURNING id`,
		name, kind, config).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func addRule(t *testing.T, pool *pgxpool.Pool, r Rule) {
	t.Helper()
	r.Enabled = true
	if r.MinSeverity == "" {
		r.MinSeverity = "info"
	}
	if _, err := saveRule(context.Background(), pool, r); err != nil {
		t.Fatal(err)
	}
}

func emailConfig(mb *mailbox) string {
	host, port, _ := net.SplitHostPort(mb.Addr)
	return `{"host":"` + host + `","port":` + port + `,"security":"none","username":"user","password":"secret","from":"hub@xa.gov.vn"}`
}

func decodeBase64Lines(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(s))
	return string(b), err
}

// dumpQueue logs the queue when the test failed.
func dumpQueue(t *testing.T, pool *pgxpool.Pool) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		list, _ := querySends(context.Background(), pool, "", 100)
		for _, s := range list {
			t.Logf("queue %d %s %s ch%d %q %s attempts=%d err=%q next=%v", s.ID, s.Source, s.Phase, s.ChannelID, s.Address, s.State, s.Attempts, s.LastError, s.NextAt)
		}
	})
}
