package meetings

import (
	"context"
	"strconv"

	"github.com/communehub/communehub/hub"
)

// The meetings topic families (docs/topics.md). Every topic of one meeting
// follows viewer, the rule of the REST API, on the /ws event socket; its
// access announcements are for admins only.
var (
	stateFamily = hub.TopicFamily{Pattern: "meeting/+", Kind: "meeting", Owner: "meetings",
		// In a meeting, participants, the speaker and the queue are
		// people: a public screen gets their count (by status), not their
		// names. The titles of the meeting and of the agenda item and the
		// question put to the vote are the council's public business.
		Public: &hub.PublicFields{Strings: []string{"id", "title", "state", "question", "rule", "since", "started_at", "starts_at"},
			CountBy: []string{"status"}}}
	logFamily     = hub.TopicFamily{Pattern: "meeting/+/log", Kind: "meeting_log", Owner: "meetings"}
	mediaFamily   = hub.TopicFamily{Pattern: "meeting/+/media", Kind: "meeting_media", Owner: "meetings"}
	accessFamily  = hub.TopicFamily{Pattern: AccessPattern, Kind: "meeting_access", Owner: "meetings"}
	communeFamily = hub.TopicFamily{Pattern: "commune/+/meetings", Kind: "meetings", Owner: "meetings",
		Public: &hub.PublicFields{Strings: []string{"id", "title", "started_at", "starts_at"}}}
	provinceFamily = hub.TopicFamily{Pattern: "province/+/meetings", Kind: "province_meetings", Owner: "meetings"}
)

// families returns the meetings topic families, in this order: the three a
// meeting viewer may read, access, then the units'.
func families() []hub.TopicFamily {
	return []hub.TopicFamily{stateFamily, logFamily, mediaFamily, accessFamily, communeFamily, provinceFamily}
}

// declareTopics declares the meetings topics with the kernel, with who may
// follow them, and admits a guest's meeting pass on the /ws event socket as
// a hub.KindGuest principal, which follows only its own meeting's topics.
// Open sockets ask again when access ends: Run invalidates g on every
// AccessPattern announcement.
func (p *Proceedings) declareTopics(t *hub.Topics, g *hub.TopicGuards) error {
	viewer := p.topicAllowed
	fams := families()
	for i := range fams[:3] {
		fams[i].Read = viewer
	}
	fams[3].Read = func(ctx context.Context, pr *hub.Principal, topic string) (bool, error) {
		if ok, err := viewer(ctx, pr, topic); !ok || err != nil {
			return ok, err
		}
		return adminOnly(ctx, pr, topic)
	}
	if err := t.Declare(fams...); err != nil {
		return err
	}
	if g != nil {
		g.Admit(p.admitPass)
	}
	return nil
}

// MediaTopic is the bus topic of a meeting's media state: who is connected,
// what they publish, who is speaking. (meeting/{id} itself is the
// proceedings snapshot; the wall's meeting tile reads both.)
func MediaTopic(id int64) string { return mediaFamily.Topic(strconv.FormatInt(id, 10)) }
