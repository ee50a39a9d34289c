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
// Media (sfu/, signal*.go, page*.go): the Pion SFU and its websocket
// signaling, which hands proceedings messages to Proceedings.Handle.
//
// Guests (guests*.go): an invite link is redeemed once, by the page it
// opens, for a meeting pass (a cookie for one invitee in one meeting) that
// the meeting's page, websocket and API accept and nothing else does.
//
// meetings imports the kernel (hub) and no other feature; only meetings and
// its sub-packages import pion.
package meetings
