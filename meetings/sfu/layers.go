package sfu

// Level is how much video a subscriber's link can carry. The controller
// moves one step at a time; screen shares are dropped last.
type Level int

// Levels, from nothing but audio to full quality.
const (
	LevelAudio  Level = iota // audio only: no video at all
	LevelScreen              // screen shares on their low layer, cameras off
	LevelLow                 // every video on its low layer
	LevelHigh                // every video on its best layer
)

func (l Level) String() string {
	switch l {
	case LevelAudio:
		return "audio"
	case LevelScreen:
		return "screen"
	case LevelLow:
		return "low"
	default:
		return "high"
	}
}

// layerFor maps a level to the simulcast layer a video source gets: -1 off,
// 0 low, 1 high. Screen shares stay one step above cameras.
func layerFor(l Level, screen bool) int {
	if screen {
		switch {
		case l <= LevelAudio:
			return -1
		case l == LevelScreen:
			return 0
		default:
			return 1
		}
	}
	switch {
	case l <= LevelScreen:
		return -1
	case l == LevelLow:
		return 0
	default:
		return 1
	}
}

// Controller thresholds. Loss is the fraction of packets the subscriber
// reports lost in one interval (about a second).
const (
	lossBad      = 0.10 // this much loss for badIntervals steps down
	lossGood     = 0.02 // at most this much for goodIntervals steps up
	badIntervals = 2
	// goodIntervals is the base wait before stepping up; it doubles after
	// each step up that had to be undone, up to maxGoodIntervals, so a link
	// that cannot carry a level stops being probed every few seconds.
	goodIntervals    = 5
	maxGoodIntervals = 60
	rembHeadroom     = 0.85 // use at most this share of the estimate
	// rembUnbounded: an estimate at least this multiple of what the current
	// level takes says nothing of the link beyond it (see update).
	rembUnbounded   = 1.25
	silentIntervals = 3 // intervals without a report before "nothing to measure"
)

// controller picks a subscriber's Level from its loss and bandwidth
// reports. It is owned by the participant's loop goroutine.
//
// The bandwidth is the subscriber's REMB: a browser's receive-side
// estimate, computed from the abs-send-time of what it receives. That
// estimate starts at what it receives, climbs by about 8 % a second, and
// never goes above 1.5 times what it receives; it falls only when the
// browser sees the link's queues growing (then to 85 % of what arrives).
// So an estimate below what a level takes condemns the level only once it
// has stopped climbing (the first seconds of a stream, and the seconds
// after a step up, it is still catching up), and an estimate can never
// vouch for a level far above the current one: stepping up from low to high
// is a probe, allowed while the estimate is well above what is being sent,
// and undone (with the usual back-off) when the estimate then falls short.
type controller struct {
	level     Level
	userMax   Level // the most the participant wants: high, low (data saver) or audio
	bad, good int
	silent    int       // intervals in a row without any report
	wait      int       // intervals of good link needed to step up
	probing   bool      // the last change was a step up
	rembAgo   [2]uint64 // the estimate one and two intervals ago
}

func newController() controller {
	return controller{level: LevelHigh, userMax: LevelHigh, wait: goodIntervals}
}

// update takes one interval's measurements: loss (0..1, negative when no
// report arrived), remb (bits/s, 0 when unknown) and need, the bitrate a
// level would take. It returns the new level and whether it changed.
//
// A bad interval is one with too much loss, or one whose estimate has
// stopped climbing below what the level takes; two in a row step down, and
// an estimate that falls short steps down to the highest level it carries
// with headroom.
func (c *controller) update(loss float64, remb uint64, need func(Level) uint64) (Level, bool) {
	old := c.level
	rising := remb > c.rembAgo[1]
	c.rembAgo[1], c.rembAgo[0] = c.rembAgo[0], remb
	if c.userMax == LevelAudio {
		c.level = LevelAudio
		return c.level, c.level != old
	}
	fits := func(l Level) bool { return float64(need(l)) <= float64(remb)*rembHeadroom }
	// Falling short is the estimate under what the level takes, headroom
	// aside: a browser that sees its queues grow sets its estimate to 85 %
	// of what arrives, while a calm one holds up to 1.5 times that, so the
	// gap between the two thresholds keeps bursts from stepping down.
	short := remb > 0 && !rising && need(c.level) > remb
	if loss < 0 {
		c.silent++
	} else {
		c.silent = 0
	}
	switch {
	case short:
		c.bad++
		c.good = 0
	case loss < 0 && (c.level == LevelHigh || c.silent < silentIntervals):
		// No report this interval (reports come about once a second, not
		// in step with the ticks): hold.
	case loss < 0:
		// Nothing flows that could be measured (audio only with nobody
		// publishing audio, say): count it as good, so the level is probed
		// upwards with the usual back-off instead of staying down for ever.
		c.good++
		c.bad = 0
	case loss >= lossBad:
		c.bad++
		c.good = 0
	case loss <= lossGood:
		c.good++
		c.bad = 0
	default:
		// In between: not good enough to climb. A noisy link hovering
		// around lossBad still steps down after two bad intervals.
		c.good = 0
	}
	if c.bad >= badIntervals && c.level > LevelAudio {
		c.level--
		for short && c.level > LevelAudio && !fits(c.level) {
			c.level--
		}
		c.bad = 0
		if c.probing { // the step up did not hold: wait longer next time
			c.wait = min(c.wait*2, maxGoodIntervals)
		}
		c.probing = false
	} else if c.good >= c.wait && c.level < c.userMax {
		// With an estimate, climb when it carries the next level, or probe
		// when it is well above what this level takes (it cannot know
		// more); not when this level already takes most of it.
		if remb == 0 || fits(c.level+1) || float64(remb) >= rembUnbounded*float64(need(c.level)) {
			c.level++
			c.probing = true
		}
		c.good = 0
	} else if c.good >= 3*maxGoodIntervals {
		c.probing = false
		c.wait = goodIntervals // a long stable stretch: forgive
	}
	return c.level, c.level != old
}

// setUserMax records the participant's own choice of the most video it
// wants: LevelHigh (no limit), LevelLow (data saver: cameras on their low
// layer, screen shares still sharp) or LevelAudio (audio only). Lowering it
// applies at once; raising it goes straight to the new limit from a level
// the limit held down, as the link allowed that level before.
func (c *controller) setUserMax(l Level) {
	old := c.userMax
	c.userMax = l
	switch {
	case c.level > l:
		c.level = l
	case l > old && c.level == old:
		c.level = l
		c.good, c.bad, c.wait, c.probing = 0, 0, goodIntervals, false
	}
}
