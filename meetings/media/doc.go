// Package media is the online side of meetings: the signaling websocket
// /ws/meetings/{id} in front of the Pion SFU (meetings/sfu), the meeting
// room's page /meetings/{id} and its modules (web/), the room's forwarding
// statistics (/api/v1/meetings/{id}/stats), the media state published on
// meetings.MediaTopic, and which hub instance carries each meeting's media
// (meeting_media_owner, with one-time redirect and rejoin tickets).
//
// It admits by the rules of meetings (Proceedings.Attendee, invitees,
// meeting passes, the page's gate Proceedings.MeetingPage), hands
// proceedings messages to a meetings.ProcSession, and closes connections
// whose access ends (meetings.AccessPattern). Its tables are created by
// meetings' migrations; the topic family it publishes on is declared by
// meetings.
//
// Its own SQL is in owner_store.go: the claims on meeting_media_owner and
// the tickets of meeting_media_tickets; tickets.go issues and checks the
// tickets with it.
//
// media imports hub, meetings and meetings/sfu, and no other feature;
// nothing of meetings imports media (hub/layout_test.go). Pion is reached
// only through meetings/sfu.
package media
