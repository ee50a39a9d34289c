package devicesim

import (
	"context"
	"sync"
	"time"
)

// Run connects every device (spreading connections over one interval),
// publishes telemetry every interval and, with Scenario, plays the
// outages, until ctx ends. Devices that cannot connect are retried.
func (s *Sim) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	power := &powerState{}
	for i, d := range s.Devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			offset := time.Duration(float64(s.cfg.Interval) * float64(i) / float64(len(s.Devices)))
			s.device(ctx, d, offset, power)
		}()
	}
	if s.cfg.Scenario {
		wg.Add(1)
		go func() { defer wg.Done(); s.scenario(ctx, power) }()
	}
	<-ctx.Done()
	for _, d := range s.Devices {
		d.mu.Lock()
		if d.client != nil && d.up {
			d.client.Disconnect(50)
		}
		d.mu.Unlock()
	}
	wg.Wait()
	return nil
}

// powerState is the commune power as the scenario sets it.
type powerState struct {
	mu    sync.Mutex
	cut   map[string]time.Time // commune → when the power went
	down  map[string]bool      // device key → held down by the scenario
	flaps map[string]bool
}

func (p *powerState) isCut(commune string) (bool, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.cut[commune]
	return ok, t
}

func (p *powerState) held(d *Device) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.down[d.Commune+"/"+d.ID]
}

func (p *powerState) setHeld(d *Device, v bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down == nil {
		p.down = map[string]bool{}
	}
	p.down[d.Commune+"/"+d.ID] = v
}

func (s *Sim) device(ctx context.Context, d *Device, offset time.Duration, power *powerState) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(offset):
	}
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if !d.isUp() && !power.held(d) {
			if err := d.connect(ctx); err != nil && ctx.Err() == nil {
				s.log.Debug("devicesim: connect failed; retrying", "err", err)
			}
		}
		if d.isUp() {
			cut, since := power.isCut(d.Commune)
			runtime := 45.0
			if d.Kind == "ups" {
				if cut {
					d.battery = max(5, 100-time.Since(since).Minutes()*4)
					runtime = d.battery * 0.45
				} else {
					d.battery = min(100, d.battery+2)
				}
			}
			d.mu.Lock()
			c := d.client
			d.mu.Unlock()
			tok := c.Publish(s.prefix(d)+"/telemetry", 1, false, d.telemetry(cut, runtime))
			go func() {
				if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
					s.statsMu.Lock()
					s.sent++
					s.statsMu.Unlock()
				}
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.nudge:
		}
	}
}

// nudgeUPS makes the commune's UPS report at once, as a real one does when
// the mains fails or returns.
func (s *Sim) nudgeUPS(commune string) {
	for _, d := range s.Devices {
		if d.Commune == commune && d.Kind == "ups" {
			select {
			case d.nudge <- struct{}{}:
			default:
			}
		}
	}
}

// scenario plays, per loop: at 15% of the period an access switch fails
// (it and everything behind it go silent with their wills) for 20% of the
// period; at 50% the power is cut (devices not on the UPS go down, the UPS
// reports on battery with its minutes left) for 20%; an access point flaps
// five times around 80%.
func (s *Sim) scenario(ctx context.Context, power *powerState) {
	p := s.cfg.Period
	sleep := func(frac float64) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Duration(float64(p) * frac)):
			return true
		}
	}
	behind := func(commune, id string) []*Device {
		var out []*Device
		var walk func(parent string)
		walk = func(parent string) {
			for _, d := range s.Devices {
				if d.Commune == commune && d.Parent == parent {
					out = append(out, d)
					walk(d.ID)
				}
			}
		}
		for _, d := range s.Devices {
			if d.Commune == commune && d.ID == id {
				out = append(out, d)
			}
		}
		walk(id)
		return out
	}
	setDown := func(ds []*Device, down bool) {
		for _, d := range ds {
			power.setHeld(d, down)
			if down {
				d.fail()
			}
		}
	}
	for ctx.Err() == nil {
		if !sleep(0.15) {
			return
		}
		for _, c := range s.cfg.Communes {
			s.log.Info("devicesim: access switch sw-floor2 fails", "commune", c)
			setDown(behind(c, "sw-floor2"), true)
		}
		if !sleep(0.20) {
			return
		}
		for _, c := range s.cfg.Communes {
			setDown(behind(c, "sw-floor2"), false)
		}
		if !sleep(0.15) {
			return
		}
		for _, c := range s.cfg.Communes {
			s.log.Info("devicesim: power cut", "commune", c)
			power.mu.Lock()
			if power.cut == nil {
				power.cut = map[string]time.Time{}
			}
			power.cut[c] = time.Now()
			power.mu.Unlock()
			s.nudgeUPS(c)
			var off []*Device
			for _, d := range s.Devices {
				if d.Commune == c && !d.onUPS {
					off = append(off, d)
				}
			}
			setDown(off, true)
		}
		if !sleep(0.20) {
			return
		}
		for _, c := range s.cfg.Communes {
			power.mu.Lock()
			delete(power.cut, c)
			power.mu.Unlock()
			s.nudgeUPS(c)
			var off []*Device
			for _, d := range s.Devices {
				if d.Commune == c && !d.onUPS {
					off = append(off, d)
				}
			}
			setDown(off, false)
		}
		if !sleep(0.10) {
			return
		}
		for i := 0; i < 5 && ctx.Err() == nil; i++ {
			for _, c := range s.cfg.Communes {
				ap := behind(c, "ap-1")[:1]
				setDown(ap, true)
			}
			if !sleep(0.01) {
				return
			}
			for _, c := range s.cfg.Communes {
				setDown(behind(c, "ap-1")[:1], false)
			}
			if !sleep(0.01) {
				return
			}
		}
		if !sleep(0.18) {
			return
		}
	}
}
