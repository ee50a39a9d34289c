package sfutest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/communehub/communehub/hub/hubtest/deadline"
	"github.com/communehub/communehub/meetings/sfu"
)

// direct connects a bot to an sfu.Participant in the same process, with
// messages encoded to JSON and back as on a websocket.
type direct struct {
	mu     sync.Mutex
	p      *sfu.Participant
	joined chan struct{} // closed once Join has returned, p set or not
}

// participant waits for Join to return: the SFU sends its first offer from
// inside Join, and the bot may answer it before Join has returned the
// participant (on a loaded machine it did, and the answer was lost).
func (d *direct) participant() *sfu.Participant {
	select {
	case <-d.joined:
	case <-time.After(deadline.Timeout(10 * time.Second)):
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.p
}

func (d *direct) Send(msgType string, body any) error {
	p := d.participant()
	if p == nil {
		return fmt.Errorf("not joined")
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline.Timeout(10*time.Second))
	defer cancel()
	switch msgType {
	case "offer":
		var o struct {
			SDP     string                `json:"sdp"`
			Sources map[string]sfu.Source `json:"sources"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return err
		}
		return p.Offer(ctx, o.SDP, o.Sources)
	case "answer":
		var a struct {
			SDP string `json:"sdp"`
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			return err
		}
		return p.Answer(ctx, a.SDP)
	case "candidate":
		var c struct {
			Target    string        `json:"target"`
			Candidate sfu.Candidate `json:"candidate"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return err
		}
		return p.AddCandidate(ctx, c.Target, c.Candidate)
	}
	return fmt.Errorf("unknown message %q", msgType)
}

// Join creates a bot and joins it to room on e directly (no websocket).
// Call Start on the bot to publish.
func Join(e *sfu.Engine, room string, id string, cfg Config) (*Bot, *sfu.Participant, error) {
	return JoinTap(e, room, id, cfg, nil)
}

// JoinTap is Join with tap called on every message the SFU sends the bot.
func JoinTap(e *sfu.Engine, room string, id string, cfg Config, tap func(msgType string, body any)) (*Bot, *sfu.Participant, error) {
	if cfg.Name == "" {
		cfg.Name = id
	}
	d := &direct{joined: make(chan struct{})}
	b, err := New(cfg, d)
	if err != nil {
		return nil, nil, err
	}
	defer close(d.joined)
	b.MarkStart()
	p, err := e.Join(room, sfu.PeerInfo{ID: id, Name: cfg.Name}, func(t string, body any) {
		if tap != nil {
			tap(t, body)
		}
		raw, err := json.Marshal(body)
		if err != nil {
			panic(err)
		}
		b.Handle(t, raw)
	})
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	d.mu.Lock()
	d.p = p
	d.mu.Unlock()
	return b, p, nil
}
