// Package sfu is CommuneHub's media core: a selective forwarding unit built on
// pion/webrtc v4. It is the only package of the tree that imports pion.
//
// Model. An Engine owns the ICE sockets (one UDP port for every peer through
// an ICE UDP mux, an optional ICE-TCP port) and the rooms. A Room holds
// Participants. Each participant has two PeerConnections, each with a single
// offerer, so renegotiation cannot glare:
//
//   - the "up" connection carries what the participant publishes (Opus
//     microphone, VP8 camera with two simulcast layers, VP8 screen share);
//     the client offers and the server answers;
//   - the "down" connection carries what it receives; the server offers and
//     the client answers. Changes that arrive while an offer is outstanding
//     are queued and sent in the next offer.
//
// Forwarding. Every published track becomes a publication in the room the
// moment the publisher's offer is applied (not when its first packet
// arrives), and a joining participant takes its snapshot of publications
// under the same lock that registers it, so a join racing a publish never
// loses a stream. Each subscriber gets its own outgoing track per
// publication (a downTrack) with its own sequence-number, timestamp and
// VP8 PictureID/TL0PICIDX rewriting (each simulcast layer numbers its
// frames on its own; a receiver must see one sequence across switches), so
// each can receive a different simulcast layer. The goroutine that reads a
// layer writes each packet to its subscribers (the Engine's fan-out
// workers share a long list out); writes never block, so a subscriber that
// cannot keep up loses packets (video until the next keyframe) and never
// slows the others. The media socket sends each burst with one sendmmsg
// (see batchConn); Go's poller watches it, through an epoll of our own, for
// input only, so sending never wakes the poller (udpSocket).
//
// Repair and feedback. A layer's reader asks the publisher for lost video
// itself (nackRequester: a gap at once, then again every round trip); a
// subscriber's NACKs are answered from its downTrack's history of what it
// was sent (references to the shared packets); receiver reports flow on
// both, sender reports go from each participant's tick; transport-cc feedback goes to publishers so browsers can
// size their encoders, recorded by the goroutine that reads each packet
// (twccFeedback: Pion's interceptor handed every packet to a goroutine of
// its own). Keyframe requests (subscriber connected, subscriber PLI/FIR,
// layer switch, congestion drop) are throttled to one per 500 ms per
// publisher layer, with a trailing request so none is lost.
//
// Weak links. A per-subscriber controller picks one of four levels from the
// subscriber's reported loss and REMB: high layer, low layer, screen share
// only, audio only. Every packet sent to a subscriber carries abs-send-time
// (with goog-remb, what a browser needs to estimate its downlink and send
// REMB). Screen shares are served before cameras. A participant may also
// choose audio only. Audio, which has no NACK repair, may come as RED
// (RFC 2198: each packet also carries the previous frame, so a lost packet
// is filled from the next): it is forwarded as RED to subscribers that
// negotiated it and as its primary Opus frame to the others (red.go).
//
// Speakers are detected on the server from the RFC 6464 audio-level header
// extension.
//
// Concurrency. Each Participant's signaling and PeerConnection state is owned
// by its loop goroutine; everyone else posts closures to it. Room state is
// guarded by Room.mu; callbacks are made after unlocking. Every goroutine the
// package starts is owned by a Participant, a Room or the Engine and is
// waited for when its owner closes.
//
// sfu imports nothing from CommuneHub; package meetings adapts it to
// websockets, access control and the bus.
package sfu
