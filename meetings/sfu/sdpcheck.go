package sfu

import (
	"strings"

	"github.com/pion/sdp/v3"
)

// maxSDP bounds a session description from a client.
const maxSDP = 64 << 10

// offerMedia is what the SFU needs to know of one m-line of a client offer.
type offerMedia struct {
	mid     string
	kind    kind
	sending bool
	rids    []string // simulcast rids the client sends
}

// parseOffer checks a client offer before Pion sees it and extracts its
// media sections. Only audio and video sections are accepted.
func parseOffer(text string) ([]offerMedia, error) {
	if len(text) > maxSDP {
		return nil, protoErr("invalid_sdp", "offer larger than %d bytes", maxSDP)
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(text); err != nil {
		return nil, protoErr("invalid_sdp", "malformed offer: %v", err)
	}
	if len(d.MediaDescriptions) == 0 {
		return nil, protoErr("invalid_sdp", "offer has no media")
	}
	if len(d.MediaDescriptions) > 16 {
		return nil, protoErr("invalid_sdp", "offer has too many media sections")
	}
	out := make([]offerMedia, 0, len(d.MediaDescriptions))
	mids := map[string]bool{}
	for _, md := range d.MediaDescriptions {
		var m offerMedia
		switch md.MediaName.Media {
		case "audio":
			m.kind = kindAudio
		case "video":
			m.kind = kindVideo
		default:
			return nil, protoErr("invalid_sdp", "unsupported media %q", md.MediaName.Media)
		}
		mid, ok := md.Attribute("mid")
		if !ok || mid == "" || len(mid) > 32 {
			return nil, protoErr("invalid_sdp", "media section without a valid mid")
		}
		if mids[mid] {
			return nil, protoErr("invalid_sdp", "duplicate mid %q", mid)
		}
		mids[mid] = true
		m.mid = mid
		m.sending = md.MediaName.Port.Value != 0
		for _, a := range md.Attributes {
			switch a.Key {
			case "recvonly", "inactive":
				m.sending = false
			case "rid":
				f := strings.Fields(a.Value)
				if len(f) >= 2 && f[1] == "send" && len(m.rids) < 4 {
					m.rids = append(m.rids, f[0])
				}
			}
		}
		out = append(out, m)
	}
	return out, nil
}
