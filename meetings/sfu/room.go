package sfu

import (
	"errors"
	"sort"
	"sync"
	"time"
)

// speakerInterval is how often speaking is re-evaluated (LiveKit's 400 ms).
const speakerInterval = 400 * time.Millisecond

var errRoomClosed = errors.New("sfu: room closed")

// Room is one meeting's media: its participants and their publications.
// Membership and publications change under mu, and the matching
// subscribe/unsubscribe actions are posted to the participants while mu is
// held, so every participant sees every publication exactly once, in order,
// whatever the interleaving of joins and publishes.
type Room struct {
	id string
	e  *Engine

	mu           sync.Mutex
	participants map[string]*Participant // by participant id, in join order below
	order        []*Participant
	pubs         map[string]*publication
	speaking     map[string]float64 // participant id → loudness
	active       string             // active speaker's participant id
	challenger   string             // louder than active at the last tick
	closed       bool

	stop chan struct{}
	done chan struct{}
}

func newRoom(e *Engine, id string) *Room {
	r := &Room{
		id: id, e: e,
		participants: map[string]*Participant{},
		pubs:         map[string]*publication{},
		speaking:     map[string]float64{},
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	go r.speakerLoop()
	return r
}

// ID returns the room's id (the meeting id).
func (r *Room) ID() string { return r.id }

func (r *Room) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// join adds p and posts it a subscription to every existing publication.
func (r *Room) join(p *Participant) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errRoomClosed
	}
	if _, dup := r.participants[p.info.ID]; dup {
		r.mu.Unlock()
		return errors.New("sfu: duplicate participant id")
	}
	r.participants[p.info.ID] = p
	r.order = append(r.order, p)
	for _, pub := range r.pubsInOrderLocked() {
		pub := pub
		p.q.post(func() { p.subscribe(pub) })
	}
	r.mu.Unlock()
	r.changed()
	return nil
}

// leave removes p and its publications. When the room becomes empty it
// closes and waits for its speaker loop.
func (r *Room) leave(p *Participant) {
	r.mu.Lock()
	if r.participants[p.info.ID] != p {
		r.mu.Unlock()
		return
	}
	delete(r.participants, p.info.ID)
	for i, q := range r.order {
		if q == p {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
	delete(r.speaking, p.info.ID)
	if r.active == p.info.ID {
		r.active = ""
	}
	for id, pub := range r.pubs {
		if pub.owner == p {
			delete(r.pubs, id)
			r.postUnsubscribeLocked(pub)
		}
	}
	empty := len(r.participants) == 0
	if empty {
		r.closed = true
	}
	r.mu.Unlock()
	if empty {
		close(r.stop)
		<-r.done
		r.e.forget(r)
	}
	r.changed()
}

// addPublication makes pub visible to every other participant.
func (r *Room) addPublication(pub *publication) {
	r.mu.Lock()
	if r.closed || r.participants[pub.owner.info.ID] != pub.owner {
		r.mu.Unlock()
		pub.close()
		return
	}
	r.pubs[pub.id] = pub
	for _, p := range r.order {
		if p != pub.owner {
			p := p
			p.q.post(func() { p.subscribe(pub) })
		}
	}
	r.mu.Unlock()
	r.changed()
}

// removePublication withdraws pub from every subscriber and closes it.
func (r *Room) removePublication(pub *publication) {
	r.mu.Lock()
	if r.pubs[pub.id] == pub {
		delete(r.pubs, pub.id)
		r.postUnsubscribeLocked(pub)
	}
	r.mu.Unlock()
	pub.close()
	r.changed()
}

func (r *Room) postUnsubscribeLocked(pub *publication) {
	for _, p := range r.order {
		if p != pub.owner {
			p := p
			p.q.post(func() { p.unsubscribe(pub) })
		}
	}
}

func (r *Room) pubsInOrderLocked() []*publication {
	out := make([]*publication, 0, len(r.pubs))
	for _, pub := range r.pubs {
		out = append(out, pub)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// members returns the participants in join order.
func (r *Room) members() []*Participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Participant(nil), r.order...)
}

// closeAll closes every participant (engine shutdown).
func (r *Room) closeAll() {
	for _, p := range r.members() {
		p.Close()
	}
}

// changed tells everyone in the room, and the Engine's hook, the new state.
func (r *Room) changed() {
	st := r.State()
	for _, p := range r.members() {
		p.out(MsgParticipants, ParticipantsMsg{Participants: st.Participants})
	}
	if r.e.hooks.OnState != nil {
		r.e.hooks.OnState(st)
	}
}

// State returns who is in the room, what they publish and who speaks.
func (r *Room) State() RoomState {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := RoomState{Room: r.id, ActiveSpeaker: r.active, Participants: make([]ParticipantInfo, 0, len(r.order))}
	for _, p := range r.order {
		pi := ParticipantInfo{ID: p.info.ID, Ref: p.info.Ref, Name: p.info.Name, AudioOnly: p.audioOnly.Load()}
		if l, ok := r.speaking[p.info.ID]; ok {
			pi.Speaking, pi.Level = true, l
		}
		for _, pub := range r.pubs {
			if pub.owner != p {
				continue
			}
			pi.Tracks = append(pi.Tracks, TrackInfo{ID: pub.id, Kind: pub.kindString(), Source: pub.source, Muted: pub.muted.Load()})
		}
		sort.Slice(pi.Tracks, func(i, j int) bool { return pi.Tracks[i].ID < pi.Tracks[j].ID })
		st.Participants = append(st.Participants, pi)
	}
	return st
}

func (r *Room) speakerLoop() {
	defer close(r.done)
	t := time.NewTicker(speakerInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			if r.tickSpeakers() {
				r.broadcastSpeakers()
			}
		}
	}
}

// tickSpeakers re-evaluates who speaks; it reports whether anything changed.
func (r *Room) tickSpeakers() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := map[string]float64{}
	for _, pub := range r.pubs {
		if pub.kind != kindAudio {
			continue
		}
		if ok, loud := pub.meter.take(); ok && !pub.muted.Load() {
			if loud > now[pub.owner.info.ID] {
				now[pub.owner.info.ID] = loud
			}
		}
	}
	changed := len(now) != len(r.speaking)
	for id := range now {
		if _, ok := r.speaking[id]; !ok {
			changed = true
		}
	}
	r.speaking = now
	// Active speaker with hysteresis: the loudest takes over when the
	// current one is silent, or after being louder for two ticks.
	loudest, max := "", 0.0
	for id, l := range now {
		if l > max || (l == max && id < loudest) {
			loudest, max = id, l
		}
	}
	switch {
	case loudest == "" || loudest == r.active:
		r.challenger = ""
	case r.active == "" || now[r.active] == 0:
		r.active, r.challenger = loudest, ""
		changed = true
	case r.challenger == loudest:
		r.active, r.challenger = loudest, ""
		changed = true
	default:
		r.challenger = loudest
	}
	return changed
}

func (r *Room) broadcastSpeakers() {
	r.mu.Lock()
	msg := SpeakersMsg{Active: r.active, Speaking: make([]Speaker, 0, len(r.speaking))}
	for id, l := range r.speaking {
		msg.Speaking = append(msg.Speaking, Speaker{ID: id, Level: float64(int(l*100)) / 100})
	}
	members := append([]*Participant(nil), r.order...)
	r.mu.Unlock()
	sort.Slice(msg.Speaking, func(i, j int) bool { return msg.Speaking[i].ID < msg.Speaking[j].ID })
	for _, p := range members {
		p.out(MsgSpeakers, msg)
	}
	if r.e.hooks.OnState != nil {
		r.e.hooks.OnState(r.State())
	}
}

// Stats returns the room's forwarding statistics.
func (r *Room) Stats() RoomStats {
	rs := RoomStats{Room: r.id}
	for _, p := range r.members() {
		ps, ok := p.stats()
		if !ok {
			continue
		}
		rs.ForwardedPackets += ps.ForwardedPackets
		rs.ForwardedBytes += ps.ForwardedBytes
		rs.Participants = append(rs.Participants, ps)
	}
	return rs
}
