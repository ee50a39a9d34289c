package media

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/meetings"
	"github.com/communehub/communehub/meetings/sfu"
)

// MediaState is the payload of meetings.MediaTopic.
type MediaState struct {
	ID            int64         `json:"id"`
	Instance      string        `json:"instance"`
	Participants  []MediaPerson `json:"participants"`
	Speaking      []int64       `json:"speaking"`       // invitee ids, loudest first is not implied
	ActiveSpeaker *MediaPerson  `json:"active_speaker"` // null when nobody speaks
}

// MediaPerson is one connected participant.
type MediaPerson struct {
	Invitee   int64  `json:"invitee"`
	Name      string `json:"name"`
	Audio     bool   `json:"audio"`  // publishes a microphone, unmuted
	Video     bool   `json:"video"`  // publishes a camera, not turned off
	Screen    bool   `json:"screen"` // shares a screen
	AudioOnly bool   `json:"audio_only"`
	Speaking  bool   `json:"speaking"`
}

// publishState is the SFU's OnState hook: it must not block (Bus.Publish
// never does).
func (m *Service) publishState(st sfu.RoomState) {
	id, err := strconv.ParseInt(st.Room, 10, 64)
	if err != nil {
		return
	}
	out := MediaState{ID: id, Instance: m.cfg.InstanceID, Participants: []MediaPerson{}, Speaking: []int64{}}
	for _, p := range st.Participants {
		mp := MediaPerson{Invitee: p.Ref, Name: p.Name, AudioOnly: p.AudioOnly, Speaking: p.Speaking}
		for _, t := range p.Tracks {
			switch t.Source {
			case sfu.SourceMic:
				mp.Audio = !t.Muted
			case sfu.SourceCamera:
				mp.Video = !t.Muted
			case sfu.SourceScreen:
				mp.Screen = true
			}
		}
		if p.Speaking {
			out.Speaking = append(out.Speaking, p.Ref)
		}
		if p.ID == st.ActiveSpeaker {
			as := mp
			out.ActiveSpeaker = &as
		}
		out.Participants = append(out.Participants, mp)
	}
	if m.bus == nil {
		return
	}
	if _, err := m.bus.Publish(meetings.MediaTopic(id), out); err != nil {
		m.log.Warn("publish media state", "meeting", id, "err", err)
		return
	}
	m.published.Add(1)
}

// statsBody is the answer of GET /api/v1/meetings/{id}/stats.
type statsBody struct {
	Meeting  int64  `json:"meeting"`
	Instance string `json:"instance"`
	sfu.RoomStats
}

// handleStats serves the room's forwarding statistics to its invitees and
// to staff; a meeting held on another instance is redirected there.
func (m *Service) handleStats(c *fiber.Ctx) error {
	id, err := meetingID(c)
	if err != nil {
		return err
	}
	p := hub.PrincipalOf(c)
	if !p.Is(hub.RoleAdmin, hub.RoleOfficer) {
		if p.Kind != "user" {
			return hub.Errorf(hub.EForbidden, "only invitees and staff see a meeting's statistics")
		}
		if _, err := m.proc.InviteeForUser(c.UserContext(), id, p.ID); err != nil {
			return err
		}
	} else if _, err := m.proc.Meeting(c.UserContext(), id); err != nil {
		return err
	}
	inst, base, err := m.owners.owner(c.UserContext(), id)
	if err == nil && inst != m.cfg.InstanceID && base != "" {
		return c.Redirect(base+c.OriginalURL(), fiber.StatusTemporaryRedirect)
	}
	st, ok := m.engine.Stats(strconv.FormatInt(id, 10))
	if !ok {
		st = sfu.RoomStats{Room: strconv.FormatInt(id, 10)}
	}
	if st.Participants == nil {
		st.Participants = []sfu.ParticipantStats{}
	}
	return c.JSON(statsBody{Meeting: id, Instance: m.cfg.InstanceID, RoomStats: st})
}
