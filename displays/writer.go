package displays

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/fasthttp/websocket"
)

// The writer. A socket's writes — data, pings, commands, the close frame —
// are made by one goroutine at a time, which owns the state that decides
// them (display, topics, sent seqs). It is started when something is queued
// and ends when the queue is empty, so an idle screen costs no goroutine
// besides its reader; the dispatcher, the reader and the timers only queue.

// kick makes sure a writer runs for what was just queued.
func (cn *conn) kick() {
	cn.wmu.Lock()
	if cn.writing || cn.finished {
		cn.wmu.Unlock()
		return
	}
	cn.writing = true
	cn.writers.Add(1)
	cn.wmu.Unlock()
	go cn.writeRun()
}

// writeRun writes until the queue is empty, or until the socket must close:
// then it sends the close frame, stops the reader and lets no other writer
// start.
func (cn *conn) writeRun() {
	defer cn.writers.Done()
	for {
		if err := cn.flush(&cn.wb); err != nil {
			cn.finish(err)
			cn.wmu.Lock()
			cn.finished, cn.writing = true, false
			cn.wmu.Unlock()
			cn.stopReader()
			return
		}
		cn.wmu.Lock()
		if !cn.q.pending() {
			cn.writing = false
			cn.wmu.Unlock()
			return
		}
		cn.wmu.Unlock()
	}
}

// stopWriters lets no new writer start and waits for a running one; after
// it the caller may write (the handler's last close frame).
func (cn *conn) stopWriters() {
	cn.wmu.Lock()
	cn.finished = true
	cn.wmu.Unlock()
	cn.writers.Wait()
}

// cutOff aborts a write in progress to a screen whose queue overflowed; the
// writer then closes the socket with 4408.
func (cn *conn) cutOff() {
	_ = cn.ws.NetConn().SetWriteDeadline(time.Now())
}

// errClose carries a close the writer must send.
type errClose struct{ *closeReq }

func (e errClose) Error() string { return e.reason }

// finish sends the close frame an error calls for.
func (cn *conn) finish(err error) {
	s := cn.svc
	var ec errClose
	switch {
	case errors.As(err, &ec):
		s.metrics.closes.WithLabelValues(closeLabel(ec.code)).Inc()
		hub.WriteClose(cn.ws, ec.code, ec.reason)
	case isTimeout(err) && !cn.q.isSlow():
		s.metrics.slow.WithLabelValues("write_timeout").Inc()
		hub.WriteClose(cn.ws, CloseSlow, "too slow: reconnect and resync")
	case isTimeout(err):
		hub.WriteClose(cn.ws, CloseSlow, "too slow: reconnect and resync")
	default:
		s.log.Debug("displays: write failed", "err", err)
	}
}

// stopReader ends the reader once the writer has closed the socket: it
// gives the peer a moment to answer the close frame, then expires the read
// deadline until the reader notices. (Closing a hijacked fasthttp
// connection does not interrupt a blocked read; the connection closes when
// the handler returns.)
func (cn *conn) stopReader() {
	cn.stopping.Store(true)
	t := time.NewTimer(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-cn.readerDone:
			return
		case <-t.C:
			_ = cn.ws.NetConn().SetReadDeadline(time.Now())
			t.Reset(50 * time.Millisecond)
		}
	}
}

// ping queues a heartbeat and re-arms its timer (time.AfterFunc: no
// goroutine waits between beats).
func (cn *conn) ping() {
	if cn.ended.Load() {
		return // a beat racing the end must not re-arm the timer
	}
	cn.q.pushCtrl(ctrlMsg{ping: true})
	cn.pingTimer.Reset(cn.svc.o.Heartbeat)
}

// begin sends the first messages: the pairing code, or the screen's state.
func (cn *conn) begin(st *startInfo) error {
	if st.disp == nil {
		cn.code, cn.codeExp = st.code, st.exp
		cn.svc.attach(cn, 0, st.code, nil)
		if cn.renewTimer == nil {
			cn.renewTimer = time.AfterFunc(time.Until(st.exp), func() { cn.q.pushCtrl(ctrlMsg{renew: true}) })
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
		return errClose{&closeReq{CloseTryAgain, "cannot renew the pairing code; retry"}}
	}
	return cn.begin(&startInfo{code: code, exp: exp})
}

// startDisplay attaches the socket to a display's topics and sends its state:
// the missed events in order when the resume positions allow it, else a
// snapshot; then any command still waiting for the screen.
func (cn *conn) startDisplay(d *Display, resume *clientMsg) error {
	s := cn.svc
	cn.disp = d
	cn.topics = d.topics(s.o.Bus.Latest)
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
		evs, ok := cn.svc.o.Bus.Since(t, seq)
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
		Heartbeat: s.o.Heartbeat.Seconds(), Spread: s.o.ReloadSpread.Seconds(), Display: cn.disp,
		StaleAfter: make(map[string]float64, len(cn.topics)),
	}
	for _, t := range cn.topics {
		w.StaleAfter[t] = s.o.Stale[topicKind(t)].Seconds()
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
		if ev := s.o.Bus.Latest(t); ev != nil {
			tm := ev.Time
			ts = topicState{Seq: ev.Seq, Time: &tm, Data: ev.Data}
			if cn.disp.Classification == Public {
				ts.Data = redactPublic(t, ev.Data)
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

// flush writes what the queue holds.
func (cn *conn) flush(b *batch) error {
	s := cn.svc
	cn.q.take(b)
	if b.close != nil {
		return errClose{b.close}
	}
	if b.slow {
		return errClose{&closeReq{CloseSlow, "too slow: reconnect and resync"}}
	}
	if b.coalesced > 0 {
		s.metrics.coalesced.Add(float64(b.coalesced))
	}
	for _, m := range b.ctrl {
		if err := cn.control(m); err != nil {
			return err
		}
	}
	if cn.disp == nil {
		return nil
	}
	meetingMoved := false
	frames := b.frames[:0]
	for _, ev := range b.events {
		last, ok := cn.sent[ev.Topic]
		if !ok || ev.Seq <= last {
			continue // not shown any more, or already in a snapshot or replay
		}
		frames = append(frames, s.frame(ev, cn.disp.Classification))
		cn.sent[ev.Topic] = ev.Seq
		s.metrics.delivery.Observe(time.Since(ev.Time).Seconds())
		if cn.disp.ActiveLayout == LayoutMeeting && topicKind(ev.Topic) == "meetings" {
			meetingMoved = true
		}
	}
	b.frames = frames
	if err := cn.writeEvents(frames); err != nil {
		return err
	}
	if meetingMoved {
		if t := cn.disp.topics(s.o.Bus.Latest); !slices.Equal(t, cn.topics) {
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
	case m.ping:
		return cn.writeJSON(pingMsg{Type: "ping", Seq: cn.svc.position(cn.topics), Time: time.Now()})
	case m.renew:
		return cn.renewCode()
	case m.config != nil:
		if cn.disp == nil {
			return nil
		}
		if m.config.RevokedAt != nil {
			return errClose{&closeReq{hub.CloseUnauthorized, "display revoked"}}
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

// writeEvents sends the events a flush found: one as an event message,
// several as one events message, so that a screen behind by a few topics
// costs one frame (and one system call) instead of several.
func (cn *conn) writeEvents(frames [][]byte) error {
	switch len(frames) {
	case 0:
		return nil
	case 1:
		return cn.write(frames[0])
	}
	return cn.write(eventsFrame(cn.svc.position(cn.topics), frames))
}

// eventsFrame encodes {"type":"events","seq":pos,"events":[frame,…]}.
func eventsFrame(pos uint64, frames [][]byte) []byte {
	n := 64
	for _, f := range frames {
		n += len(f) + 1
	}
	buf := make([]byte, 0, n)
	buf = append(buf, `{"type":"events","seq":`...)
	buf = strconv.AppendUint(buf, pos, 10)
	buf = append(buf, `,"events":[`...)
	for i, f := range frames {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, f...)
	}
	return append(buf, "]}"...)
}

func (cn *conn) writeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return cn.write(b)
}

func (cn *conn) write(b []byte) error {
	_ = cn.ws.SetWriteDeadline(time.Now().Add(cn.svc.o.WriteWait))
	if err := cn.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return err
	}
	cn.svc.metrics.sent.Inc()
	return nil
}
