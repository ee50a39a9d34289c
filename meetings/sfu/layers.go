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
	silentIntervals  = 3    // intervals without a report before "nothing to measure"
)

// controller picks a subscriber's Level from its loss and bandwidth
// reports. It is owned by the participant's loop goroutine.
type controller struct {
	level     Level
	userAudio bool // the participant chose audio only
	bad, good int
	silent    int  // intervals in a row without any report
	wait      int  // intervals of good link needed to step up
	probing   bool // the last change was a step up
}

func newController() controller {
	return controller{level: LevelHigh, wait: goodIntervals}
}

// update takes one interval's measurements: loss (0..1, negative when no
// report arrived), remb (bits/s, 0 when unknown) and need, the bitrate a
// level would take. It returns the new level and whether it changed.
func (c *controller) update(loss float64, remb uint64, need func(Level) uint64) (Level, bool) {
	old := c.level
	if c.userAudio {
		c.level = LevelAudio
		return c.level, c.level != old
	}
	if loss < 0 {
		c.silent++
	} else {
		c.silent = 0
	}
	switch {
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
		c.bad = 0
		if c.probing { // the step up did not hold: wait longer next time
			c.wait = min(c.wait*2, maxGoodIntervals)
		}
		c.probing = false
	} else if c.good >= c.wait && c.level < LevelHigh {
		if remb == 0 || float64(need(c.level+1)) <= float64(remb)*rembHeadroom {
			c.level++
			c.probing = true
		}
		c.good = 0
	} else if c.good >= 3*maxGoodIntervals {
		c.probing = false
		c.wait = goodIntervals // a long stable stretch: forgive
	}
	// The bandwidth estimate caps the level whatever the loss says.
	if remb > 0 {
		for c.level > LevelAudio && float64(need(c.level)) > float64(remb)*rembHeadroom {
			c.level--
			c.probing = false
		}
	}
	return c.level, c.level != old
}

// setUserAudio records the participant's own choice of audio only.
func (c *controller) setUserAudio(on bool) {
	c.userAudio = on
	if on {
		c.level = LevelAudio
	} else if c.level == LevelAudio {
		c.level = LevelHigh
		c.good, c.bad, c.wait, c.probing = 0, 0, goodIntervals, false
	}
}
