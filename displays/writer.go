package displays

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/communehub/communehub/hub"
)

// The writer. A socket's writes — data, pings, commands, the close frame —
// are made by the kernel's writer (hub.WSWriter), one goroutine at a time
// and only while something is queued. It calls produce, which owns the
// state that decides what the screen is sent (display, topics, sent seqs);
// the dispatcher, the reader and the timers only queue.

// newWriter returns the kernel writer of cn's socket.
func (cn *conn) newWriter() *hub.WSWriter {
	s := cn.svc
	return hub.NewWSWriter(cn.ws, cn.readerDone, hub.WSWriterOptions{
		WriteWait: s.o.WriteWait, MaxBytes: s.o.MaxQueue, Ping: s.o.Heartbeat, Window: s.o.Window,
		PingMessage: func() []byte {
			b, _ := json.Marshal(pingMsg{Type: "ping", Seq: s.position(cn.topics), Time: time.Now()})
			cn.svc.metrics.sent.Inc()
			return b
		},
		Produce: cn.produce,
		Closed: func(code int, slow string) {
			if code != 0 {
				s.metrics.closes.WithLabelValues(closeLabel(code)).Inc()
			}
			if slow != "" {
				s.metrics.slow.WithLabelValues(slow).Inc()
			}
		},
	})
}

// closeWith makes the writer close the socket with code.
func closeWith(code int, reason string) error { return &hub.WSCloseError{Code: code, Reason: reason} }

// begin sends the first messages: the pairing code, or the screen's state.
func (cn *conn) begin(st *startInfo) error {
	if st.disp == nil {
		cn.code, cn.codeExp = st.code, st.exp
		cn.svc.attach(cn, 0, st.code, nil)
		if cn.renewTimer == nil {
			cn.renewTimer = time.AfterFunc(time.Until(st.exp), func() { cn.w.Control(ctrlMsg{renew: true}) })
		} else {
			cn.renewTimer.Reset(time.Until(st.exp))
		}
		return cn.writeJSON(pairingMsg{Type: "pairing", Code: st.code, ExpiresAt: st.exp, Build: cn.svc.o.Build,
			Heartbeat: cn.svc.o.Heartbeat.Seconds()})
	}
	if st.paired {
		if err := cn.writeJSON(pairedMsg{Type: "paired", DisplayID: st.disp.ID, Name: st.disp.Name}); err != nil {
			return err
		}
	}
	return cn.startDisplay(st.disp, st.resume)
}

// renewCode gives a waiting screen a fresh code when its code expires.
func (cn *conn) renewCode() error {
	if cn.disp != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	code, exp, err := cn.svc.store.waitingPairing(ctx, cn.secret, cn.ip, cn.svc.o.PairingTTL)
	if err != nil {
		return closeWith(CloseTryAgain, "cannot renew the pairing code; retry")
	}
	return cn.begin(&startInfo{code: code, exp: exp})
}

// startDisplay attaches the socket to a display's topics and sends its state:
// the missed events in order when the resume positions allow it, else a
// snapshot; then any command still waiting for the screen.
func (cn *conn) startDisplay(d *Display, resume *clientMsg) error {
	s := cn.svc
	cn.disp = d
	cn.topics = d.topics(s.d.Bus.Latest, s.d.Topics)
	clear(cn.sent)
	s.attach(cn, d.ID, "", cn.topics) // before reading state: nothing published after it is missed
	cn.stMu.Lock()
	if cn.st.DisplayID == 0 {
		cn.st = screenStatus{DisplayID: d.ID, ConnID: cn.id, ConnectedAt: time.Now(), IP: cn.ip,
			Agent: cn.agent, Build: cn.build, LastSeen: time.Now()}
	}
	cn.stMu.Unlock()
	s.markDirty(cn)

	var err error
	if events, ok := cn.replay(resume); ok {
		err = cn.sendResumed(events)
	} else {
		err = cn.sendSnapshot()
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmds, err := s.store.pendingCommands(ctx, d.ID)
	if err != nil {
		s.log.Warn("displays: cannot load pending commands", "display", d.ID, "err", err)
		return nil
	}
	for _, c := range cmds {
		if err := cn.sendCommand(c); err != nil {
			return err
		}
	}
	return nil
}

// replay returns the events a resuming screen missed, when every topic of
// its layout can be replayed from its position in this epoch.
func (cn *conn) replay(m *clientMsg) ([]*hub.Event, bool) {
	if m == nil || m.Epoch != cn.svc.epoch || len(m.Resume) == 0 {
		return nil, false
	}
	// Each topic's events in seq order; topics are independent states, so
	// their relative order does not matter.
	var all []*hub.Event
	for _, t := range cn.topics {
		seq, ok := m.Resume[t]
		if !ok {
			return nil, false
		}
		evs, ok := cn.svc.d.Bus.Since(t, seq)
		if !ok {
			return nil, false
		}
		all = append(all, evs...)
		cn.sent[t] = seq
	}
	return all, true
}

func (cn *conn) welcome(typ string) welcome {
	s := cn.svc
	w := welcome{
		Type: typ, Seq: s.position(cn.topics), Epoch: s.epoch, Build: s.o.Build, ServerTime: time.Now(),
		Heartbeat: s.o.Heartbeat.Seconds(), Spread: s.o.ReloadSpread.Seconds(), Window: s.o.Window, Display: cn.disp,
		StaleAfter: make(map[string]float64, len(cn.topics)),
	}
	for _, t := range cn.topics {
		w.StaleAfter[t] = s.o.Stale[s.kindOf(t)].Seconds()
	}
	return w
}

func (cn *conn) sendSnapshot() error {
	s := cn.svc
	w := cn.welcome("snapshot")
	w.Topics = make(map[string]topicState, len(cn.topics))
	var pos uint64
	for _, t := range cn.topics {
		ts := topicState{Data: json.RawMessage("null")}
		if ev := s.d.Bus.Latest(t); ev != nil {
			tm := ev.Time
			ts = topicState{Seq: ev.Seq, Time: &tm, Data: ev.Data}
			if cn.disp.Classification == Public {
				ts.Data = redactPublic(s.pol.of(t), ev.Data)
			}
		}
		w.Topics[t] = ts
		cn.sent[t] = ts.Seq
		pos += ts.Seq
	}
	w.Seq = pos
	s.metrics.snapshots.Inc()
	return cn.writeJSON(w)
}

func (cn *conn) sendResumed(events []*hub.Event) error {
	w := cn.welcome("resumed")
	w.Events = make([]json.RawMessage, 0, len(events))
	for _, ev := range events {
		w.Events = append(w.Events, cn.svc.frame(ev, cn.disp.Classification))
		cn.sent[ev.Topic] = ev.Seq
	}
	cn.svc.metrics.resumes.Inc()
	return cn.writeJSON(w)
}

func (cn *conn) sendCommand(c *Command) error {
	if c.ID <= cn.lastCmd {
		return nil
	}
	cn.lastCmd = c.ID
	return cn.writeJSON(commandMsg{Type: "command", Seq: cn.svc.position(cn.topics), ID: c.ID, Command: c.Command, Args: c.Args})
}

// produce turns what was queued into the screen's messages: control
// messages in their order among the events, and the events the screen
// shows that it was not sent yet, all of them (the kernel coalesces only
// for a socket that does not keep up), as one message.
func (cn *conn) produce(b *hub.WSBatch) error {
	s := cn.svc
	cn.out = b
	defer func() { cn.out = nil }()
	before := b.Messages()
	defer func() { s.metrics.sent.Add(float64(b.Messages() - before)) }()
	if b.Coalesced > 0 {
		s.metrics.coalesced.Add(float64(b.Coalesced))
	}
	meetingMoved := false
	frames := cn.frames[:0]
	defer func() { clear(frames); cn.frames = nil }()
	for _, it := range b.Items {
		if m, ok := it.Ctrl.(ctrlMsg); ok {
			cn.writeEvents(frames) // what came before it, first
			frames = frames[:0]
			if err := cn.control(m); err != nil {
				return err
			}
			continue
		}
		ev := it.Event
		if ev == nil || cn.disp == nil {
			continue
		}
		last, ok := cn.sent[ev.Topic]
		if !ok || ev.Seq <= last {
			continue // not shown any more, or already in a snapshot or replay
		}
		frames = append(frames, s.frame(ev, cn.disp.Classification))
		cn.sent[ev.Topic] = ev.Seq
		s.metrics.delivery.Observe(time.Since(ev.Time).Seconds())
		if cn.disp.ActiveLayout == LayoutMeeting && s.kindOf(ev.Topic) == "meetings" {
			meetingMoved = true
		}
	}
	cn.writeEvents(frames)
	if meetingMoved {
		if t := cn.disp.topics(s.d.Bus.Latest, s.d.Topics); !slices.Equal(t, cn.topics) {
			return cn.startDisplay(cn.disp, nil) // the room's meeting changed: show the new one
		}
	}
	return nil
}

// control handles one control message in the writer.
func (cn *conn) control(m ctrlMsg) error {
	switch {
	case m.start != nil:
		st := m.start
		m.start = nil
		return cn.begin(st)
	case m.renew:
		return cn.renewCode()
	case m.config != nil:
		if cn.disp == nil {
			return nil
		}
		if m.config.RevokedAt != nil {
			return closeWith(hub.CloseUnauthorized, "display revoked")
		}
		return cn.startDisplay(m.config, nil)
	case m.command != nil:
		if cn.disp == nil {
			return nil
		}
		return cn.sendCommand(m.command)
	case m.paired != 0:
		if cn.disp != nil {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d, err := cn.svc.store.byToken(ctx, cn.secret)
		if err != nil || d == nil || d.ID != m.paired {
			return err // not this screen's secret after all (nil) or the database is down
		}
		if err := cn.writeJSON(pairedMsg{Type: "paired", DisplayID: d.ID, Name: d.Name}); err != nil {
			return err
		}
		return cn.startDisplay(d, nil)
	case m.resync:
		if cn.disp == nil {
			return nil
		}
		return cn.startDisplay(cn.disp, nil)
	}
	return nil
}

// writeEvents sends the events produce found: one as an event message,
// several as one events message, so that a screen behind by a few events
// costs one frame (and one system call) instead of several.
func (cn *conn) writeEvents(frames [][]byte) {
	switch len(frames) {
	case 0:
	case 1:
		cn.out.Text(frames[0])
	default:
		cn.out.Text(eventsMessage(cn.svc.position(cn.topics), frames)...)
	}
}

var (
	eventsSep = []byte(",")
	eventsEnd = []byte("]}")
)

// eventsMessage is {"type":"events","seq":pos,"events":[frame,…]} as the
// parts of one message (the frames are not copied until it is written).
func eventsMessage(pos uint64, frames [][]byte) [][]byte {
	parts := make([][]byte, 0, 2*len(frames)+1)
	head := make([]byte, 0, 48)
	head = append(head, `{"type":"events","seq":`...)
	head = strconv.AppendUint(head, pos, 10)
	parts = append(parts, append(head, `,"events":[`...))
	for i, f := range frames {
		if i > 0 {
			parts = append(parts, eventsSep)
		}
		parts = append(parts, f)
	}
	return append(parts, eventsEnd)
}

func (cn *conn) writeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	cn.out.Text(b)
	return nil
}
