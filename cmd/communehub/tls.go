package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// HTTPS. Browsers give a page the camera and microphone only in a secure
// context: https, or localhost. A commune server reached over the office
// LAN at http://10.0.0.5:8080 therefore joins meetings without camera or
// microphone; served over https it has both. Two ways:
//   - --tls-cert/--tls-key: a certificate the province or an ACME client
//     issues; files are re-read when they change (renewal without restart).
//   - --tls-self-signed: the hub makes its own certificate for every name
//     and address it has, kept in the data dir; each browser accepts it
//     once (its SHA-256 fingerprint is logged, to check against).

const (
	selfSignedValidity = 397 * 24 * time.Hour // browsers' limit for a leaf certificate
	selfSignedRenewal  = 30 * 24 * time.Hour  // made again when less than this is left
	certRecheck        = 10 * time.Second     // how often the certificate files' times are looked at
)

// TLSEnabled reports whether the hub serves HTTPS.
func (c *Config) TLSEnabled() bool { return c.TLSCert != "" || c.TLSSelfSigned }

// serverTLS returns the TLS configuration the hub serves with, or nil for
// plain HTTP.
func serverTLS(cfg Config, log *slog.Logger, now time.Time) (*tls.Config, error) {
	certFile, keyFile := cfg.TLSCert, cfg.TLSKey
	switch {
	case cfg.TLSSelfSigned:
		names := tlsNames(cfg)
		var fp string
		var made bool
		var err error
		certFile, keyFile, fp, made, err = selfSignedCert(filepath.Join(cfg.DataDir, "tls"), names, now)
		if err != nil {
			return nil, fmt.Errorf("self-signed certificate (COMMUNEHUB_TLS_SELF_SIGNED): %w", err)
		}
		log.Info("https with a self-signed certificate: each browser asks once to accept it; check its fingerprint",
			"sha256", fp, "names", strings.Join(names, ","), "new", made, "file", certFile)
	case certFile == "":
		return nil, nil
	}
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := r.load(); err != nil {
		return nil, &ConfigError{Setting: "tls-cert", Env: "COMMUNEHUB_TLS_CERT", Value: certFile,
			Accepted: "a readable PEM certificate with its key in COMMUNEHUB_TLS_KEY", Err: err}
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.get,
		NextProtos:     []string{"http/1.1"},
	}, nil
}

// certReloader serves a certificate and key from files and loads them
// again when either file changes; a renewal that cannot be loaded (half
// written, key not matching) is logged and the old pair stays in use.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // the files' modification times and sizes when loaded
	checked time.Time
}

func (r *certReloader) fileStamp() (string, error) {
	var b strings.Builder
	for _, f := range []string{r.certFile, r.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%d/%d;", st.ModTime().UnixNano(), st.Size())
	}
	return b.String(), nil
}

func (r *certReloader) load() error {
	stamp, err := r.fileStamp()
	if err != nil {
		return err
	}
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.cert, r.stamp, r.checked = &c, stamp, time.Now()
	r.mu.Unlock()
	return nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	cert, stamp, due := r.cert, r.stamp, time.Since(r.checked) >= certRecheck
	if due {
		r.checked = time.Now()
	}
	r.mu.Unlock()
	if !due {
		return cert, nil
	}
	now, err := r.fileStamp()
	if err != nil || now == stamp {
		if err != nil {
			r.log.Warn("TLS certificate files unreadable; serving the loaded one", "err", err)
		}
		return cert, nil
	}
	if err := r.load(); err != nil {
		r.log.Warn("TLS certificate changed but does not load; serving the previous one", "err", err)
		return cert, nil
	}
	r.log.Info("TLS certificate reloaded", "file", r.certFile)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cert, nil
}

// tlsNames lists the names and addresses a self-signed certificate must
// cover: localhost, the host name, the listen address, the public URL's
// host and every address of this machine's interfaces.
func tlsNames(cfg Config) []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
	}
	if h, _, err := net.SplitHostPort(cfg.Addr); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
		names = append(names, h)
	}
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Hostname() != "" {
		names = append(names, u.Hostname())
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
				names = append(names, n.IP.String())
			}
		}
	}
	for i, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			names[i] = ip.String()
		} else {
			names[i] = strings.ToLower(n)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// selfSignedCert returns the self-signed certificate and key files in dir
// for names, making them when they are missing, unreadable, about to
// expire or do not cover every name. It also returns the certificate's
// SHA-256 fingerprint and whether it was made now.
func selfSignedCert(dir string, names []string, now time.Time) (certFile, keyFile, fingerprint string, made bool, err error) {
	// Certificate and key in one file, written at once: a reader never
	// pairs one certificate with another key.
	certFile = filepath.Join(dir, "self-signed.pem")
	keyFile = certFile
	if der, ok := usableSelfSigned(certFile, names, now); ok {
		return certFile, keyFile, fingerprintOf(der), false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", "", false, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", "", false, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", "", "", false, err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "CommuneHub " + host, Organization: []string{"CommuneHub (self-signed)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", "", false, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", "", false, err
	}
	both := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
	if err := writeFileAtomic(certFile, both, 0o600); err != nil {
		return "", "", "", false, err
	}
	return certFile, keyFile, fingerprintOf(der), true, nil
}

// usableSelfSigned reports whether the pair in file loads, lasts beyond
// the renewal margin and covers every name; it returns the certificate.
func usableSelfSigned(file string, names []string, now time.Time) ([]byte, bool) {
	pair, err := tls.LoadX509KeyPair(file, file)
	if err != nil || len(pair.Certificate) == 0 {
		return nil, false
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || now.Add(selfSignedRenewal).After(c.NotAfter) || now.Before(c.NotBefore) {
		return nil, false
	}
	for _, n := range names {
		if c.VerifyHostname(n) != nil {
			return nil, false
		}
	}
	return pair.Certificate[0], true
}

func fingerprintOf(der []byte) string {
	sum := sha256.Sum256(der)
	var b bytes.Buffer
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}

// writeFileAtomic writes data to a temporary file beside name and renames
// it into place, so a reader never sees half a file.
func writeFileAtomic(name string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	err = errors.Join(err, f.Chmod(mode), f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// httpsListener serves TLS on ln (a guarded listener) and answers a plain-HTTP request on the
// same port (an address typed without https://) with a redirect to the
// same URL over https. Each new connection's first byte is looked at in
// its own goroutine, under a deadline, so a silent client holds up
// nobody.
type httpsListener struct {
	net.Listener
	tls   *tls.Config
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// sniffTimeout bounds how long a new connection may take to send its
// first bytes (the TLS hello, or an HTTP request line and headers).
const sniffTimeout = 10 * time.Second

func newHTTPSListener(ln net.Listener, cfg *tls.Config) *httpsListener {
	l := &httpsListener{Listener: ln, tls: cfg, conns: make(chan net.Conn), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

// acceptLoop hands each connection to sniff. ln is a guarded listener
// (hub.Guard), which retries failed accepts itself: its only error is
// that it was closed.
func (l *httpsListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			l.Close()
			return
		}
		go l.sniff(c)
	}
}

// sniff hands a TLS connection to Accept and redirects a plain-HTTP one.
func (l *httpsListener) sniff(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	br := bufio.NewReaderSize(c, 4096)
	first, err := br.Peek(1)
	if err != nil {
		c.Close()
		return
	}
	if first[0] != 0x16 { // not a TLS handshake record: an HTTP request
		l.redirect(c, br)
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	select {
	case l.conns <- tls.Server(&peekedConn{Conn: c, r: br}, l.tls):
	case <-l.done:
		c.Close()
	}
}

// redirect answers one plain-HTTP request with 308 to its https URL.
func (l *httpsListener) redirect(c net.Conn, br *bufio.Reader) {
	defer c.Close()
	req, err := http.ReadRequest(br)
	if err != nil || req.Host == "" || strings.ContainsAny(req.Host, " \t\r\n/\\") {
		_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 30\r\n\r\nthis port speaks HTTPS only.\r\n")
		return
	}
	target := "https://" + req.Host + req.URL.RequestURI()
	_ = c.SetWriteDeadline(time.Now().Add(sniffTimeout))
	fmt.Fprintf(c, "HTTP/1.1 308 Permanent Redirect\r\nLocation: %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", target)
}

func (l *httpsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *httpsListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.Listener.Close()
	})
	return err
}

// peekedConn reads first what the sniffing reader already buffered.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
