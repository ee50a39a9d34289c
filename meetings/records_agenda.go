package meetings

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/communehub/communehub/hub"
)

// AgendaInput adds or changes an agenda item. Position 0 appends; another
// position inserts there and moves the later items down.
type AgendaInput struct {
	Position  int    `json:"position"`
	Title     string `json:"title"`
	Presenter string `json:"presenter"`
	Notes     string `json:"notes"`
}

func (in *AgendaInput) validate() error {
	in.Title = strings.TrimSpace(in.Title)
	if in.Title == "" || utf8.RuneCountInString(in.Title) > 500 {
		return hub.FieldError("title", "is required, at most 500 characters")
	}
	if utf8.RuneCountInString(in.Presenter) > 200 {
		return hub.FieldError("presenter", "at most 200 characters")
	}
	if utf8.RuneCountInString(in.Notes) > 5000 {
		return hub.FieldError("notes", "at most 5000 characters")
	}
	if in.Position < 0 || in.Position > 500 {
		return hub.FieldError("position", "must be 1–500, or 0 to append")
	}
	return nil
}

// Agenda returns a meeting's agenda in order.
func (p *Proceedings) Agenda(ctx context.Context, meetingID int64) ([]AgendaItem, error) {
	if _, err := p.Meeting(ctx, meetingID); err != nil {
		return nil, err
	}
	return loadAgenda(ctx, p.pool, meetingID)
}

func (c *cmd) agendaEditable() error {
	if c.m.State == MeetingClosed || c.m.State == MeetingCancelled {
		return hub.Errorf(hub.EConflict, "meeting %d is %s; its agenda cannot change", c.m.ID, c.m.State)
	}
	return nil
}

// renumber writes positions 1..n in the order of ids and logs the agenda.
func (c *cmd) renumber(ids []int64) error {
	for i, id := range ids {
		if err := setAgendaPosition(c.ctx, c.tx, id, i+1); err != nil {
			return err
		}
	}
	var err error
	if c.agenda, err = loadAgenda(c.ctx, c.tx, c.m.ID); err != nil {
		return err
	}
	return c.emit(EvAgendaChanged, 0, evAgenda{Items: c.agenda})
}

func (c *cmd) agendaIDs() []int64 {
	ids := make([]int64, len(c.agenda))
	for i, it := range c.agenda {
		ids[i] = it.ID
	}
	return ids
}

// AddAgendaItem adds an item to a meeting's agenda.
func (p *Proceedings) AddAgendaItem(ctx context.Context, meetingID int64, in AgendaInput) (*AgendaItem, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	var out *AgendaItem
	err := p.exec(ctx, meetingID, func(c *cmd) error {
		if err := c.agendaEditable(); err != nil {
			return err
		}
		if len(c.agenda) >= 200 {
			return hub.Errorf(hub.EUnprocessable, "an agenda has at most 200 items")
		}
		id, err := insertAgendaItem(ctx, c.tx, meetingID, 10000+len(c.agenda), &in)
		if err != nil {
			return err
		}
		ids := c.agendaIDs()
		pos := in.Position
		if pos == 0 || pos > len(ids)+1 {
			pos = len(ids) + 1
		}
		ids = slices.Insert(ids, pos-1, id)
		if err := c.renumber(ids); err != nil {
			return err
		}
		for _, it := range c.agenda {
			if it.ID == id {
				out = &it
			}
		}
		return nil
	})
	return out, err
}

// UpdateAgendaItem changes an item's text and, with a position, moves it.
func (p *Proceedings) UpdateAgendaItem(ctx context.Context, meetingID, itemID int64, in AgendaInput) (*AgendaItem, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	var out *AgendaItem
	err := p.exec(ctx, meetingID, func(c *cmd) error {
		if err := c.agendaEditable(); err != nil {
			return err
		}
		ids := c.agendaIDs()
		i := slices.Index(ids, itemID)
		if i < 0 {
			return hub.Errorf(hub.ENotFound, "no agenda item %d in meeting %d", itemID, meetingID)
		}
		if err := updateAgendaItem(ctx, c.tx, itemID, &in); err != nil {
			return err
		}
		if in.Position != 0 {
			ids = slices.Delete(ids, i, i+1)
			pos := min(in.Position, len(ids)+1)
			ids = slices.Insert(ids, pos-1, itemID)
		}
		if err := c.renumber(ids); err != nil {
			return err
		}
		for _, it := range c.agenda {
			if it.ID == itemID {
				out = &it
			}
		}
		return nil
	})
	return out, err
}

// DeleteAgendaItem removes an item that has no documents and was never opened.
func (p *Proceedings) DeleteAgendaItem(ctx context.Context, meetingID, itemID int64) error {
	return p.exec(ctx, meetingID, func(c *cmd) error {
		if err := c.agendaEditable(); err != nil {
			return err
		}
		ids := c.agendaIDs()
		i := slices.Index(ids, itemID)
		if i < 0 {
			return hub.Errorf(hub.ENotFound, "no agenda item %d in meeting %d", itemID, meetingID)
		}
		if slices.Contains(c.st.ItemsOpened, itemID) {
			return hub.Errorf(hub.EConflict, "agenda item %d was discussed; it stays on the record", itemID)
		}
		docs, err := itemDocuments(ctx, c.tx, itemID)
		if err != nil {
			return err
		}
		if docs > 0 {
			return hub.Errorf(hub.EConflict, "agenda item %d has %d documents; move or keep them", itemID, docs)
		}
		if err := deleteAgendaItem(ctx, c.tx, itemID); err != nil {
			return err
		}
		return c.renumber(slices.Delete(ids, i, i+1))
	})
}

func (c *cmd) item(id int64) *AgendaItem {
	for i := range c.agenda {
		if c.agenda[i].ID == id {
			return &c.agenda[i]
		}
	}
	return nil
}

func sortedInvitees(m map[int64]*Invitee) []*Invitee {
	out := make([]*Invitee, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	rank := map[InviteeRole]int{RoleChair: 0, RoleMember: 1, RoleGuest: 2, RoleObserver: 3}
	slices.SortFunc(out, func(a, b *Invitee) int {
		if a.Role != b.Role {
			return rank[a.Role] - rank[b.Role]
		}
		return int(a.ID - b.ID)
	})
	return out
}
