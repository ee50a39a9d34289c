// Package meetings is CommuneHub's meetings feature: the records and
// proceedings of commune and province meetings, and the online media
// around them.
//
// Records and proceedings (records*.go, proceedings*.go, attendance*.go,
// votes*.go, documents*.go, minutes*.go): meetings with their invitees
// (chair, member, guest, observer), agenda items with versioned documents,
// the attendance register, the speaker queue, votes and signed minutes.
// Everything that happens in a meeting is appended to its event log
// (meeting_events, append-only); the live state is a replay of that log, so
// minutes are drafted from it and a meeting can be replayed. Commands are
// serialised per meeting by the meeting's row lock, which makes them safe
// across goroutines and hub instances. Changes reach the bus through the
// outbox: meeting/{id} (full snapshot), meeting/{id}/log (one message per
// appended event, for participants' pages; resynced from the REST state) and
// commune/{code}/meetings (now/next).
//
// The use cases (records*.go, proceedings*.go, attendance.go, votes.go,
// documents.go, guests.go, minutes*.go) and the HTTP handlers call their
// entity's storage, one *_store.go each: meeting_store.go (meetings rows),
// invitee_store.go (invitees and the users they name), agenda_store.go,
// document_store.go (documents and their versions), vote_store.go (votes,
// voters and ballots), guest_store.go (invite links and meeting passes),
// log_store.go (the proceedings log), minutes_store.go (the minutes and
// their revisions), key_store.go (signing keys) and unit_store.go (what a
// unit's now/next reads). Attendance has no table: it is in the log.
//
// Media lives in sub-packages: sfu/ is the Pion SFU, media/ its websocket
// signaling, the meeting room's page and which instance carries a meeting;
// media sits on this package's exported API (Proceedings.Attendee,
// Invitees, PassInvitee, MeetingPage, Attach, the topic constructors) and
// hands proceedings messages to a ProcSession. The tables of media
// (meeting_media_owner, meeting_media_tickets) are in this package's
// migrations, and it declares meeting/+/media (MediaTopic).
//
// Guests (guests*.go): an invite link is redeemed once, by the page it
// opens, for a meeting pass (a cookie for one invitee in one meeting) that
// the meeting's page, websocket and API accept and nothing else does.
//
// meetings imports the kernel (hub) and no other feature, and none of its
// sub-packages: meetings/media imports meetings, never the other way round.
// Only its sub-packages (sfu, and media through it) import pion.
package meetings
