package hub

import (
	"strconv"
	"testing"
	"time"
)

func TestThrottleAddressesAndBound(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	th := newThrottle(ThrottleConfig{IPFree: 2, MaxEntries: 100})
	fail := func(account, ip string) {
		if scope, _ := th.begin(account, ip, now); scope != "" {
			t.Fatalf("%s from %s refused (%s) before its threshold", account, ip, scope)
		}
		th.end(account, ip, false, now)
	}
	// One IPv6 site is its /64: two addresses in it share a count.
	fail("a", "2001:db8:1:2::10")
	fail("b", "2001:db8:1:2:ffff::1")
	if scope, _ := th.begin("c", "2001:db8:1:2::99", now); scope != throttledIP {
		t.Errorf("same /64 = %q, want locked", scope)
	}
	if scope, _ := th.begin("c", "2001:db8:1:3::1", now); scope != "" {
		t.Errorf("another /64 = %q, want admitted", scope)
	}
	th.end("c", "2001:db8:1:3::1", true, now)
	if scope, _ := th.begin("d", "192.0.2.1", now); scope != "" {
		t.Errorf("IPv4 = %q", scope)
	}
	// A second attempt for an account waits for the first.
	if scope, _ := th.begin("d", "192.0.2.2", now); scope != throttledBusy {
		t.Errorf("parallel attempt = %q, want busy", scope)
	}
	th.end("d", "192.0.2.1", true, now)
	// Memory stays bounded whatever names are sprayed.
	for i := range 1000 {
		th.end("user"+strconv.Itoa(i), "198.51.100."+strconv.Itoa(i%250), false, now.Add(time.Duration(i)*time.Millisecond))
	}
	th.mu.Lock()
	defer th.mu.Unlock()
	if len(th.accounts) > 100 || len(th.ips) > 100 {
		t.Errorf("throttle holds %d accounts and %d addresses, want at most 100 each", len(th.accounts), len(th.ips))
	}
	if th.accounts["user999"] == nil {
		t.Error("the newest failure was evicted")
	}
}
