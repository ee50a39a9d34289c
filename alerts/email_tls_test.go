package alerts

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/communehub/communehub/hub/hubtest"
)

// selfSigned makes a certificate for 127.0.0.1 that signs itself: the
// server's TLS config and the PEM a channel trusts it by.
func selfSigned(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail.xa.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// Email over STARTTLS to a server with a self-signed certificate: sent,
// authenticated and over TLS when the channel trusts the certificate
// (config.ca_pem); refused, with nothing sent and the password never
// offered in the clear, when it does not.
func TestEmailSTARTTLS(t *testing.T) {
	t.Parallel()
	tlsCfg, caPEM := selfSigned(t)
	mb := newMailboxTLS(t, tlsCfg)
	host, port, _ := net.SplitHostPort(mb.Addr)
	p, _ := strconv.Atoi(port)
	cfg := EmailConfig{Host: host, Port: p, Security: "starttls", Username: "user", Password: "secret", From: "hub@xa.gov.vn", CAPEM: caPEM}
	raw, _ := json.Marshal(cfg)
	if _, err := ParseChannelConfig(KindEmail, raw); err != nil {
		t.Fatalf("the config: %v", err)
	}
	m := message{ID: 7, To: "a@xa.gov.vn", Subject: "Mất kết nối: router", Body: "Thiết bị router mất kết nối."}
	ctx, cancel := context.WithTimeout(context.Background(), hubtest.Timeout(10*time.Second))
	defer cancel()
	if err := sendEmail(ctx, cfg, m); err != nil {
		t.Fatalf("send over STARTTLS: %v", err)
	}
	msgs := mb.messages()
	if len(msgs) != 1 || !msgs[0].TLS || msgs[0].User != "user" || msgs[0].Subject != m.Subject || msgs[0].Body != m.Body {
		t.Fatalf("received %+v", msgs)
	}

	// The same through a stored channel, a rule and the queue.
	pool := newPool(t)
	dumpQueue(t, pool)
	ch := addChannel(t, pool, "mail", KindEmail, string(raw))
	addRule(t, pool, Rule{Name: "all", Recipients: []Recipient{{Channel: ch, To: "b@xa.gov.vn"}}})
	r := startAlerts(t, pool, fastConfig(), nil, nil, nil)
	r.publish(t, alarmSnapshot("active_unack"))
	hubtest.WaitFor(t, 15*time.Second, func() bool { return mb.count("b@xa.gov.vn", "router") == 1 }, "the alarm's email over STARTTLS")
	if got := mb.messages()[1]; !got.TLS || got.User != "user" {
		t.Fatalf("queued email %+v", got)
	}

	// Not trusted: the handshake fails before any credential is sent.
	untrusted := cfg
	untrusted.CAPEM = ""
	err := sendEmail(ctx, untrusted, m)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	// A server that offers no STARTTLS is refused for good, not tried in
	// the clear.
	plain := newMailbox(t)
	host, port, _ = net.SplitHostPort(plain.Addr)
	noTLS := cfg
	noTLS.Port, _ = strconv.Atoi(port)
	err = sendEmail(ctx, noTLS, m)
	if _, ok := err.(permanent); !ok || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("no STARTTLS offered: %v", err)
	}
	if n := len(mb.messages()) + len(plain.messages()); n != 2 {
		t.Fatalf("%d messages in all, want the two trusted ones", n)
	}
}
