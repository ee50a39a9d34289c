package sfu

import (
	"context"
	"sort"
	"time"
)

// RoomStats is what GET /api/v1/meetings/{id}/stats reports.
type RoomStats struct {
	Room             string `json:"room"`
	ForwardedPackets uint64 `json:"forwardedPackets"`
	ForwardedBytes   uint64 `json:"forwardedBytes"`
	// SocketDropped counts packets the media socket dropped, for every room
	// of this instance, because the kernel's send queue was full.
	SocketDropped uint64             `json:"socketDropped"`
	Participants  []ParticipantStats `json:"participants"`
}

// ParticipantStats describes one participant's links and tracks.
type ParticipantStats struct {
	ID        string  `json:"id"`
	Ref       int64   `json:"ref"`
	Name      string  `json:"name"`
	Level     string  `json:"level"`     // video level it receives: high, low, screen, audio
	AudioOnly bool    `json:"audioOnly"` // chosen by the participant
	DataSaver bool    `json:"dataSaver"` // chosen by the participant: cameras low at most
	Connected bool    `json:"connected"` // receiving connection up
	LossDown  float64 `json:"lossDown"`  // fraction lost on what it receives (receiver reports, queue drops)
	LossUp    float64 `json:"lossUp"`    // fraction lost on what it publishes
	RTTMs     float64 `json:"rttMs"`
	REMBBps   uint64  `json:"rembBps"`  // its downlink bandwidth estimate (REMB), 0 when none came in the last 5 s
	JoinedMs  int64   `json:"joinedMs"` // time since joining

	ForwardedPackets uint64 `json:"forwardedPackets"` // sent to this participant
	ForwardedBytes   uint64 `json:"forwardedBytes"`
	Dropped          uint64 `json:"dropped"` // dropped by its queue

	Published  []PublishedStats  `json:"published"`
	Subscribed []SubscribedStats `json:"subscribed"`
}

// PublishedStats is one publication with its layers.
type PublishedStats struct {
	Track  string       `json:"track"`
	Kind   string       `json:"kind"`
	Source Source       `json:"source"`
	Muted  bool         `json:"muted"`
	Layers []LayerStats `json:"layers"`
}

// LayerStats is one received simulcast layer.
type LayerStats struct {
	RID        string  `json:"rid"`
	Layer      int     `json:"layer"`
	SSRC       uint32  `json:"ssrc"`
	Packets    uint64  `json:"packets"`
	Bytes      uint64  `json:"bytes"`
	BitrateBps uint64  `json:"bitrateBps"`
	Keyframes  uint64  `json:"keyframes"`
	PLIs       uint64  `json:"plis"` // keyframe requests sent to the publisher
	Loss       float64 `json:"loss"`
	RED        uint64  `json:"red"` // audio packets that came as RED (redundant frames)
}

// SubscribedStats is one downTrack.
type SubscribedStats struct {
	Track         string `json:"track"`
	Kind          string `json:"kind"`
	Layer         int    `json:"layer"` // -1: not sending
	Packets       uint64 `json:"packets"`
	Bytes         uint64 `json:"bytes"`
	Dropped       uint64 `json:"dropped"`
	NACKs         uint64 `json:"nacks"`         // packets the subscriber asked again
	Retransmitted uint64 `json:"retransmitted"` // packets sent again from the history
	PLIs          uint64 `json:"plis"`
	RED           uint64 `json:"red"`           // audio packets forwarded as RED; RED sent to a subscriber without it goes as Opus
	FirstPacketMs int64  `json:"firstPacketMs"` // from joining to the first packet, -1 before
}

func (p *Participant) stats() (ParticipantStats, bool) {
	var ps ParticipantStats
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := p.call(ctx, func() error {
		ps = ParticipantStats{
			ID: p.info.ID, Ref: p.info.Ref, Name: p.info.Name,
			Level: p.level.String(), AudioOnly: p.audioOnly.Load(), DataSaver: p.dataSaver.Load(), Connected: p.downConnected.Load(),
			LossDown: round3(max(p.lossDown, 0)), LossUp: round3(p.lossUp),
			RTTMs: float64(p.rtt.Microseconds()) / 1000, REMBBps: p.rembBps,
			JoinedMs: time.Since(p.joinedAt).Milliseconds(), Dropped: p.dropped.Load(),
			Published: []PublishedStats{}, Subscribed: []SubscribedStats{},
		}
		for _, pub := range p.pubs {
			st := PublishedStats{Track: pub.id, Kind: pub.kindString(), Source: pub.source, Muted: pub.muted.Load(), Layers: []LayerStats{}}
			for i := range pub.layers {
				l := pub.layer(i)
				if l == nil {
					continue
				}
				st.Layers = append(st.Layers, LayerStats{
					RID: l.rid, Layer: i, SSRC: l.ssrc, Packets: l.packets.Load(), Bytes: l.bytes.Load(),
					BitrateBps: l.bitrate.Load(), Keyframes: l.keyframes.Load(), PLIs: l.plis.Load(), Loss: round3(l.loss), RED: l.red.Load(),
				})
			}
			ps.Published = append(ps.Published, st)
		}
		for _, dt := range p.dts {
			ss := SubscribedStats{
				Track: dt.pub.id, Kind: dt.pub.kindString(), Layer: int(dt.cur.Load()),
				Packets: dt.packets.Load(), Bytes: dt.bytes.Load(), Dropped: dt.drops.Load(),
				NACKs: dt.nacks.Load(), Retransmitted: dt.rtx.Load(), PLIs: dt.plis.Load(), RED: dt.red.Load(), FirstPacketMs: -1,
			}
			if fw := dt.firstWrite.Load(); fw != 0 {
				ss.FirstPacketMs = (fw - p.joinedAt.UnixNano()) / 1e6
			}
			ps.ForwardedPackets += ss.Packets
			ps.ForwardedBytes += ss.Bytes
			ps.Subscribed = append(ps.Subscribed, ss)
		}
		sort.Slice(ps.Published, func(i, j int) bool { return ps.Published[i].Track < ps.Published[j].Track })
		sort.Slice(ps.Subscribed, func(i, j int) bool { return ps.Subscribed[i].Track < ps.Subscribed[j].Track })
		return nil
	})
	return ps, err == nil
}

// Stats returns this participant's statistics.
func (p *Participant) Stats() (ParticipantStats, bool) { return p.stats() }
