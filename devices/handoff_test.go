package devices

import (
	"context"
	"testing"
)

// mochi's event loop can still call put (the $SYS tick) after the broker's
// Close returned: a put blocked in it, or coming after it, returns false
// instead of sending on a closed channel.
func TestHandoffPutDuringAndAfterStopIsRefused(t *testing.T) {
	t.Parallel()
	// No workers: a put blocks until stop.
	h := &handoff{stopping: make(chan struct{}), shards: []chan handoffMsg{make(chan handoffMsg)}}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	blocked := make(chan bool)
	go func() { blocked <- h.put(context.Background(), "$SYS/broker/uptime", []byte("1"), nil) }()
	h.stop()
	if <-blocked {
		t.Error("a put blocked across stop reports the message taken")
	}
	if h.put(context.Background(), "communehub/10105/sw1/status", []byte("online"), nil) {
		t.Error("a put after stop reports the message taken")
	}
}
