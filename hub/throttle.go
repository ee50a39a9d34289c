package hub

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"time"
)

// ThrottleConfig bounds password guessing at POST /api/v1/login. Failures
// are counted per account and per client address; past the free number,
// each further failure locks the account (or the address) for BaseDelay,
// doubling per failure up to MaxDelay. The address threshold is far above
// the account's, so that one person behind a commune office's NAT who
// forgot a password does not lock out the office.
type ThrottleConfig struct {
	AccountFree int           // failures of one account before it backs off; default 5
	IPFree      int           // failures from one address (IPv6: its /64) before it backs off; default 100
	BaseDelay   time.Duration // the first lock; default 1s
	MaxDelay    time.Duration // the longest lock; default 15m
	Forget      time.Duration // failures are forgotten this long after the last one; default 1h
	MaxEntries  int           // accounts and addresses remembered, each; default 10,000
}

func (c *ThrottleConfig) defaults() {
	if c.AccountFree <= 0 {
		c.AccountFree = 5
	}
	if c.IPFree <= 0 {
		c.IPFree = 100
	}
	if c.BaseDelay <= 0 {
		c.BaseDelay = time.Second
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = 15 * time.Minute
	}
	if c.Forget <= 0 {
		c.Forget = time.Hour
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = 10_000
	}
}

// failures is what the throttle knows of one account or address.
type failures struct {
	n     int       // failures since the last success or forgetting
	last  time.Time // the last failure
	until time.Time // locked until then
}

// throttle holds the login failures of this instance in memory (several
// instances each count their own). mu guards every field.
type throttle struct {
	cfg ThrottleConfig

	mu       sync.Mutex
	accounts map[string]*failures
	ips      map[string]*failures
	inflight map[string]bool // accounts with an attempt being checked
}

func newThrottle(cfg ThrottleConfig) *throttle {
	cfg.defaults()
	return &throttle{cfg: cfg, accounts: map[string]*failures{}, ips: map[string]*failures{}, inflight: map[string]bool{}}
}

// Throttle scopes, as reported by begin.
const (
	throttledAccount = "account"
	throttledIP      = "ip"
	throttledBusy    = "busy" // another attempt for the account is being checked
)

// ipKey groups IPv6 addresses by /64 (what one site is given); IPv4 and
// anything unparsable are taken whole.
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Unmap().Is4() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// begin admits a login attempt for account from ip, or says which scope
// is locked and for how long. An admitted attempt must be ended with end,
// and only one attempt per account is checked at a time, so that parallel
// requests cannot each try a password before the first failure counts.
func (t *throttle) begin(account, ip string, now time.Time) (scope string, wait time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := t.ips[ipKey(ip)]; f != nil && now.Before(f.until) {
		return throttledIP, f.until.Sub(now)
	}
	if f := t.accounts[account]; f != nil && now.Before(f.until) {
		return throttledAccount, f.until.Sub(now)
	}
	if t.inflight[account] {
		return throttledBusy, time.Second
	}
	t.inflight[account] = true
	return "", 0
}

// end records the outcome of an attempt that begin admitted and returns
// the failure counts of the account and the address. A success forgets the
// account's failures (not the address's).
func (t *throttle) end(account, ip string, ok bool, now time.Time) (accountN, ipN int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.inflight, account)
	if ok {
		delete(t.accounts, account)
		return 0, 0
	}
	accountN = t.failLocked(t.accounts, account, t.cfg.AccountFree, now)
	ipN = t.failLocked(t.ips, ipKey(ip), t.cfg.IPFree, now)
	return accountN, ipN
}

// abort ends an attempt that begin admitted without an outcome (the
// database could not say).
func (t *throttle) abort(account string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.inflight, account)
}

// failLocked counts a failure of key in m; from the free-th failure on it
// locks key for BaseDelay doubled per further failure, up to MaxDelay.
func (t *throttle) failLocked(m map[string]*failures, key string, free int, now time.Time) int {
	f := m[key]
	if f != nil && now.Sub(f.last) > t.cfg.Forget {
		f.n = 0
	}
	if f == nil {
		t.makeRoomLocked(m, now)
		f = &failures{}
		m[key] = f
	}
	f.n++
	f.last = now
	if f.n >= free {
		d := t.cfg.MaxDelay
		if shift := f.n - free; shift < 30 {
			d = min(d, t.cfg.BaseDelay<<shift)
		}
		f.until = now.Add(d)
	}
	return f.n
}

// makeRoomLocked keeps m under MaxEntries: it drops what is forgotten and,
// when that is not enough, the entry whose last failure is oldest.
func (t *throttle) makeRoomLocked(m map[string]*failures, now time.Time) {
	if len(m) < t.cfg.MaxEntries {
		return
	}
	var oldest string
	var oldestAt time.Time
	for k, f := range m {
		if now.Sub(f.last) > t.cfg.Forget && !now.Before(f.until) {
			delete(m, k)
			continue
		}
		if oldest == "" || f.last.Before(oldestAt) {
			oldest, oldestAt = k, f.last
		}
	}
	if len(m) >= t.cfg.MaxEntries {
		delete(m, oldest)
	}
}

// throttledLogin is Login behind the throttle: a locked account or address
// gets ETooMany with details {"scope", "retry_after"} (whole seconds, also
// sent as Retry-After) and no password check. Every refusal is logged and
// counted by reason in m, when m is not nil.
func (a *Auth) throttledLogin(ctx context.Context, username, password, ip string, m *Metrics) (string, *Principal, error) {
	count := func(reason string) {
		if m != nil {
			m.LoginFailures.WithLabelValues(reason).Inc()
		}
	}
	now := a.now()
	if scope, wait := a.throttle.begin(username, ip, now); scope != "" {
		secs := int(math.Ceil(wait.Seconds()))
		reason, msg := LoginLockedAccount, fmt.Sprintf("too many failed logins for this account; try again in %d s", secs)
		switch scope {
		case throttledIP:
			reason, msg = LoginLockedIP, fmt.Sprintf("too many failed logins from this address; try again in %d s", secs)
		case throttledBusy:
			reason, msg = LoginBusy, "another login for this account is being checked; try again in a second"
		}
		count(reason)
		a.log.Warn("login throttled", "user", username, "ip", ip, "reason", reason, "retry_after", secs)
		return "", nil, &Error{Code: ETooMany, Message: msg, Details: map[string]any{"scope": scope, "retry_after": secs}}
	}
	token, p, reason, err := a.login(ctx, username, password)
	if err != nil && reason == "" { // the database, not the password
		a.throttle.abort(username)
		return "", nil, err
	}
	accountN, ipN := a.throttle.end(username, ip, err == nil, a.now())
	if err != nil {
		count(reason)
		a.log.Warn("login failed", "user", username, "ip", ip, "reason", reason, "account_failures", accountN, "ip_failures", ipN)
	}
	return token, p, err
}
