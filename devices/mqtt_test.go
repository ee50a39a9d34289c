package devices

import (
	"slices"
	"testing"
)

// With a shared group only telemetry is shared; statuses, meta (wills) and
// $SYS reach every instance.
func TestSubscriptionFilters(t *testing.T) {
	cases := []struct {
		telegraf, shared string
		state, telemetry []string
	}{
		{"telegraf", "", []string{"communehub/+/+/status", "communehub/+/+/meta", "communehub/+/+/telemetry", "telegraf/#", SysDroppedTopic}, nil},
		{"", "", []string{"communehub/+/+/status", "communehub/+/+/meta", "communehub/+/+/telemetry", SysDroppedTopic}, nil},
		{"telegraf", "g", []string{"communehub/+/+/status", "communehub/+/+/meta", SysDroppedTopic},
			[]string{"$share/g/communehub/+/+/telemetry", "$share/g/telegraf/#"}},
	}
	for _, c := range cases {
		state, tele := subscriptionFilters(c.telegraf, c.shared)
		if !slices.Equal(state, c.state) || !slices.Equal(tele, c.telemetry) {
			t.Errorf("telegraf %q, group %q: %v and %v; want %v and %v", c.telegraf, c.shared, state, tele, c.state, c.telemetry)
		}
	}
}
