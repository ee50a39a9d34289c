package sfu

import (
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// link accumulates what a subscriber's receiver reports say about its
// downlink between two ticks of its controller. Reports arrive on the
// downTracks' RTCP goroutines.
type link struct {
	mu       sync.Mutex
	lossMax  float64
	haveLoss bool
	rtt      time.Duration
	rembBps  uint64
	rembAt   time.Time
}

// report takes one reception report for a track the subscriber receives.
// moved says whether the track's highest sequence number went up since
// its previous report: one that did not covers an interval in which
// nothing arrived (a video paused at the subscriber's level, a silent
// microphone), and its fraction lost of 0 says nothing of the link, so it
// must not hide the loss another track's report shows. The interval's
// loss is the worst over the tracks that moved: audio has no NACK repair,
// so its reports show the raw loss that video's repaired ones hide.
func (l *link) report(rep rtcp.ReceptionReport, moved bool) {
	loss := float64(rep.FractionLost) / 256
	var rtt time.Duration
	if rep.LastSenderReport != 0 {
		now := ntpCompact(time.Now())
		if d := now - rep.LastSenderReport - rep.Delay; d < 1<<30 {
			rtt = time.Duration(float64(d) / 65536 * float64(time.Second))
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if moved && (!l.haveLoss || loss > l.lossMax) {
		l.lossMax = loss
		l.haveLoss = true
	}
	if rtt > 0 {
		if l.rtt == 0 {
			l.rtt = rtt
		} else {
			l.rtt = (3*l.rtt + rtt) / 4
		}
	}
}

func (l *link) remb(bps uint64) {
	l.mu.Lock()
	l.rembBps, l.rembAt = bps, time.Now()
	l.mu.Unlock()
}

// take returns the interval's worst loss (-1 when no report came), the
// smoothed RTT and a REMB estimate younger than 5 s (0 when none), and
// starts a new interval.
func (l *link) take() (loss float64, rtt time.Duration, remb uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	loss = -1
	if l.haveLoss {
		loss = l.lossMax
	}
	l.lossMax, l.haveLoss = 0, false
	if time.Since(l.rembAt) < 5*time.Second {
		remb = l.rembBps
	}
	return loss, l.rtt, remb
}

// ntpCompact is the middle 32 bits of the NTP time of t, the unit of
// LSR and DLSR in receiver reports.
func ntpCompact(t time.Time) uint32 {
	return uint32(ntpTime(t.UnixNano()) >> 16)
}

// ntpTime is the 64-bit NTP timestamp (seconds since 1900, 32.32 fixed
// point) of unix nanoseconds ns.
func ntpTime(ns int64) uint64 {
	secs := uint64(ns/1e9) + 2208988800
	frac := uint64(ns%1e9) << 32 / 1e9
	return secs<<32 | frac
}
