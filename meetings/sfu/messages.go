package sfu

// Message types the SFU sends to a client through its SendFunc. Their JSON
// form is documented in docs/meeting-protocol.md.
const (
	MsgOffer        = "offer"        // OfferMsg: server offer on the down connection
	MsgAnswer       = "answer"       // AnswerMsg: server answer on the up connection
	MsgCandidate    = "candidate"    // CandidateMsg: a server ICE candidate
	MsgParticipants = "participants" // ParticipantsMsg: who is in, what they publish
	MsgSpeakers     = "speakers"     // SpeakersMsg: who speaks
	MsgQuality      = "quality"      // QualityMsg: the client's link and level
	MsgBye          = "bye"          // ByeMsg: the SFU closed the participant
)

// Connection targets of offers, answers and candidates.
const (
	TargetUp   = "up"   // what the participant publishes; the client offers
	TargetDown = "down" // what it receives; the server offers
)

// Source says what a published track carries.
type Source string

// Sources of published tracks.
const (
	SourceMic    Source = "mic"
	SourceCamera Source = "camera"
	SourceScreen Source = "screen"
)

// SendFunc delivers one message to the participant's client. It must not
// block; a client that cannot keep up should be disconnected by the caller.
type SendFunc func(msgType string, body any)

// OfferMsg is the server's offer for the down connection. Tracks maps each
// m-line (by mid) to the publication it carries.
type OfferMsg struct {
	SDP    string          `json:"sdp"`
	Tracks []DownTrackInfo `json:"tracks"`
}

// DownTrackInfo describes one m-line of the down connection.
type DownTrackInfo struct {
	Mid         string `json:"mid"`
	Track       string `json:"track"`
	Participant string `json:"participant"`
	Kind        string `json:"kind"`
	Source      Source `json:"source"`
}

// AnswerMsg is the server's answer to the client's up offer.
type AnswerMsg struct {
	SDP string `json:"sdp"`
}

// Candidate is an ICE candidate in the browser's RTCIceCandidateInit form.
type Candidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// CandidateMsg carries a server candidate for one connection.
type CandidateMsg struct {
	Target    string    `json:"target"`
	Candidate Candidate `json:"candidate"`
}

// ParticipantsMsg is the room's membership.
type ParticipantsMsg struct {
	Participants []ParticipantInfo `json:"participants"`
}

// SpeakersMsg says who is speaking, and who the active speaker is.
type SpeakersMsg struct {
	Active   string    `json:"active"`
	Speaking []Speaker `json:"speaking"`
}

// Speaker is one speaking participant and its loudness (0..1).
type Speaker struct {
	ID    string  `json:"id"`
	Level float64 `json:"level"`
}

// QualityMsg reports the client's own link as the server sees it, and the
// level of video it is being sent.
type QualityMsg struct {
	Level     string  `json:"level"`     // high, low, screen or audio
	AudioOnly bool    `json:"audioOnly"` // no video is being sent
	DataSaver bool    `json:"dataSaver"` // the participant chose data saver (cameras low at most)
	Auto      bool    `json:"auto"`      // the level is below the participant's choice: the hub lowered it
	LossDown  float64 `json:"lossDown"`  // fraction lost on what the client receives
	LossUp    float64 `json:"lossUp"`    // fraction lost on what it publishes
	RTTMs     float64 `json:"rttMs"`
}

// ByeMsg says why the SFU closed the participant.
type ByeMsg struct {
	Reason string `json:"reason"`
}

// RoomState is a room's membership and speakers, for the bus.
type RoomState struct {
	Room          string            `json:"room"`
	Participants  []ParticipantInfo `json:"participants"`
	ActiveSpeaker string            `json:"activeSpeaker"`
}

// ParticipantInfo is one participant as others see it.
type ParticipantInfo struct {
	ID        string      `json:"id"`
	Ref       int64       `json:"ref"` // the caller's reference (the invitee id)
	Name      string      `json:"name"`
	AudioOnly bool        `json:"audioOnly"`
	Speaking  bool        `json:"speaking"`
	Level     float64     `json:"level,omitempty"`
	Tracks    []TrackInfo `json:"tracks"`
}

// TrackInfo is one publication.
type TrackInfo struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Source Source `json:"source"`
	Muted  bool   `json:"muted"`
}
