package devices

import (
	"fmt"
	"net"
	"strings"
	"time"
	"unicode"

	"github.com/communehub/communehub/hub"
)

// check validates the fields of a meta edit that need no state: each
// error names its field.
func (e *metaEdit) check() error {
	if e.Name == nil && e.Kind == nil && e.IP == nil && e.Parent == nil {
		return hub.FieldError("body", "give at least one of name, kind, ip, parent")
	}
	if e.Name != nil {
		n := strings.TrimSpace(*e.Name)
		e.Name = &n
		if len(n) > maxMetaFieldBytes {
			return hub.FieldError("name", "at most %d bytes", maxMetaFieldBytes)
		}
		if strings.IndexFunc(n, unicode.IsControl) >= 0 {
			return hub.FieldError("name", "must not contain control characters")
		}
	}
	if e.Kind != nil && !deviceKinds[*e.Kind] {
		return hub.FieldError("kind", "must be one of router, switch, ap, camera, pc, printer, ups, agent, other")
	}
	if e.IP != nil {
		ip := strings.TrimSpace(*e.IP)
		e.IP = &ip
		if ip != "" && net.ParseIP(ip) == nil {
			return hub.FieldError("ip", "must be an IPv4 or IPv6 address, or empty")
		}
	}
	if e.Parent != nil {
		p := strings.TrimSpace(*e.Parent)
		e.Parent = &p
		if p != "" && !validID(p) {
			return hub.FieldError("parent", "must be a device id (A-Z a-z 0-9 _ . -), or empty")
		}
	}
	return nil
}

// editMeta applies a checked meta edit to unit/id and returns the device
// as it is now. The rules that depend on the other devices are checked
// under the same lock as the change: the parent must be a device of the
// commune and not the device or one of its children (a loop would hide
// the real failure), and no other device may have the IP (Telegraf
// targets are matched by it). Registration is left as it is.
func (s *state) editMeta(unit, id string, e metaEdit, now time.Time) (DeviceView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.communes[unit]
	if c == nil || c.devices[id] == nil || c.devices[id].registration == RegIgnored {
		return DeviceView{}, &hub.Error{Code: hub.ENotFound, Field: "id", Message: fmt.Sprintf("no device %s in %s", id, unit)}
	}
	d := c.devices[id]
	if e.Parent != nil && *e.Parent != "" {
		p := *e.Parent
		switch {
		case p == id:
			return DeviceView{}, &hub.Error{Code: hub.EUnprocessable, Field: "parent", Message: "a device cannot be its own parent"}
		case c.devices[p] == nil || c.devices[p].registration == RegIgnored:
			return DeviceView{}, &hub.Error{Code: hub.EUnprocessable, Field: "parent", Message: fmt.Sprintf("no device %s in %s", p, unit)}
		}
		for a, depth := c.devices[p], 0; a != nil && depth < 64; a, depth = c.devices[a.parent], depth+1 {
			if a.id == id {
				return DeviceView{}, &hub.Error{Code: hub.EUnprocessable, Field: "parent",
					Message: fmt.Sprintf("%s is below %s: the parents would loop", p, id)}
			}
		}
	}
	if e.IP != nil && *e.IP != "" && *e.IP != d.ip {
		if other, taken := c.byIP[*e.IP]; taken && other != id && c.devices[other] != nil {
			return DeviceView{}, &hub.Error{Code: hub.EUnprocessable, Field: "ip", Message: fmt.Sprintf("%s is the address of %s", *e.IP, other)}
		}
	}
	if e.Name != nil {
		d.name = *e.Name
	}
	if e.Kind != nil {
		d.kind = *e.Kind
	}
	if e.Parent != nil {
		d.parent = *e.Parent
	}
	if e.IP != nil && *e.IP != d.ip {
		if d.ip != "" && c.byIP[d.ip] == id {
			delete(c.byIP, d.ip)
		}
		d.ip = *e.IP
		if d.ip != "" {
			c.byIP[d.ip] = id
		}
	}
	s.recomputeLocked(c, now)
	s.markLocked(unit, true)
	s.persist.device(d)
	return s.viewLocked(d), nil
}

// lineage is id and its parents, nearest first.
func (s *state) lineage(unit, id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{id}
	c := s.communes[unit]
	if c == nil {
		return out
	}
	for d, depth := c.devices[id], 0; d != nil && d.parent != "" && depth < 32; d, depth = c.devices[d.parent], depth+1 {
		out = append(out, d.parent)
	}
	return out
}
