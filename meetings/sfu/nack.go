package sfu

import (
	"time"

	"github.com/pion/rtcp"
)

const (
	// nackWindow is how far back, in packets, a missing packet is still
	// asked for (as Pion's generator's 512-packet log): the subscribers'
	// histories keep that many, and later it is not worth repairing.
	nackWindow = 512
	// nackRetryMin is the least time between two requests for the same
	// packet; with a longer round trip, the round trip.
	nackRetryMin = 50 * time.Millisecond
)

// nackRequester asks a publisher again for the video packets of one layer
// that did not arrive (generic NACK, RFC 4585). It runs in the goroutine
// that reads the layer and needs no timer of its own: a gap is asked for
// the moment the packet after it arrives, and what is still missing is
// asked again, at most every max(nackRetryMin, round trip), when later
// packets arrive, until it comes or falls out of nackWindow.
//
// It replaces Pion's NACK generator, which asked only from a 50 ms ticker:
// a goroutine wake-up 20 times a second per publishing connection and a
// lock per packet, and up to 50 ms before a repair was first asked for.
type nackRequester struct {
	missing []nackEntry // ascending extended sequence numbers
	highest uint64      // the highest extended sequence number seen
	started bool
	buf     []uint16
}

type nackEntry struct {
	ext  uint64
	sent int64 // unix ns of the last request
}

// onPacket takes a packet's extended sequence number and its arrival
// (unix ns), and returns the sequence numbers to ask for now, in order (nil
// for none), valid until the next call. rtt is the participant's round
// trip, 0 when unknown.
func (n *nackRequester) onPacket(ext uint64, now int64, rtt time.Duration) []uint16 {
	if !n.started {
		n.started, n.highest = true, ext
		return nil
	}
	n.buf = n.buf[:0]
	if ext <= n.highest { // a repair, reordered, or a duplicate
		if i, ok := n.find(ext); ok {
			n.missing = append(n.missing[:i], n.missing[i+1:]...)
		}
	}
	top := max(n.highest, ext)
	k := 0
	for k < len(n.missing) && n.missing[k].ext+nackWindow < top {
		k++ // fell out of the window: given up
	}
	n.missing = n.missing[:copy(n.missing, n.missing[k:])]
	retry := int64(max(nackRetryMin, rtt))
	for i := range n.missing {
		if e := &n.missing[i]; now-e.sent >= retry {
			e.sent = now
			n.buf = append(n.buf, uint16(e.ext))
		}
	}
	if ext > n.highest {
		first := max(n.highest+1, ext-min(ext, nackWindow)) // a burst longer than the window: its tail only
		for s := first; s < ext; s++ {
			n.missing = append(n.missing, nackEntry{ext: s, sent: now})
			n.buf = append(n.buf, uint16(s))
		}
		n.highest = ext
	}
	if len(n.buf) == 0 {
		return nil
	}
	return n.buf
}

// find returns the index of ext in missing.
func (n *nackRequester) find(ext uint64) (int, bool) {
	lo, hi := 0, len(n.missing)
	for lo < hi {
		m := (lo + hi) / 2
		if n.missing[m].ext < ext {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(n.missing) && n.missing[lo].ext == ext
}

// nackPacket is the RTCP NACK from sender for seqs of stream ssrc.
func nackPacket(sender, ssrc uint32, seqs []uint16) *rtcp.TransportLayerNack {
	return &rtcp.TransportLayerNack{SenderSSRC: sender, MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}
}
