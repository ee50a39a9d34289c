package devices

import (
	"errors"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// brokerLimits bound what one client may cost the embedded broker.
type brokerLimits struct {
	maxPacket      int           // largest packet after login (bytes)
	connectTimeout time.Duration // a new connection must have sent its CONNECT by then
}

// breach counts and logs a publish or subscription outside the client's
// ACL: communehub_ingest_rejected_total{reason="not_allowed"}.
func (h *authHook) breach(cl *mqtt.Client, op, topic string) {
	h.in.reject("not_allowed", topic, 0)
	h.guard.log.warn("acl:"+op, "mqtt ACL breach", "op", op, "topic", clip(topic, 120),
		"username", string(cl.Properties.Username), "client", cl.ID, "remote", cl.Net.Remote)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// OnPacketRead answers a publish to a topic no client may write ($SYS/…):
// mochi drops those without a word (no PUBACK, no disconnect), and a QoS 1
// publisher then waits for its PUBACK forever. Like any ACL breach, it
// gets PUBACK (PUBREC for QoS 2) with reason 0x87 under MQTT 5 and a closed
// connection under MQTT 3.1.1, which has no negative acknowledgement.
// QoS 0 has nothing to answer; it is dropped. Every one is counted.
func (h *authHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type != packets.Publish || pk.TopicName == "" || cl.Net.Inline ||
		strings.ContainsAny(pk.TopicName, "+#") || mqtt.IsValidFilter(pk.TopicName, true) {
		return pk, nil // wildcards are a protocol violation mochi answers itself
	}
	h.breach(cl, "publish", pk.TopicName)
	if pk.FixedHeader.Qos == 0 {
		return pk, nil // mochi drops it
	}
	if cl.Properties.ProtocolVersion < 5 {
		return pk, packets.ErrRejectPacket // from OnPacketRead: mochi ends the connection
	}
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID,
		ReasonCode: packets.ErrNotAuthorized.Code, Properties: packets.Properties{ReasonString: "topic not allowed"}}
	if pk.FixedHeader.Qos == 2 {
		ack.FixedHeader.Type = packets.Pubrec
	}
	if err := cl.WritePacket(ack); err != nil {
		return pk, err
	}
	return pk, nil // mochi then drops the packet, as it does every $SYS publish
}

// OnSubscribe counts the filters of a SUBSCRIBE outside the client's ACL;
// mochi refuses them (reason 0x87, or 0x80 under MQTT 3.1.1) on its own.
func (h *authHook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if cl.Net.Inline {
		return pk
	}
	for _, sub := range pk.Filters {
		if mqtt.IsValidFilter(sub.Filter, false) && !h.auth.allowed(string(cl.Properties.Username), sub.Filter) {
			h.breach(cl, "subscribe", sub.Filter)
		}
	}
	return pk
}

// OnDisconnect counts clients closed for a packet over the size limit.
func (h *authHook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	if errors.Is(err, packets.ErrPacketTooLarge) {
		h.guard.refuse("too_large", cl.Net.Remote, "username", string(cl.Properties.Username), "client", cl.ID)
		h.in.reject("too_large", "", 0)
	}
}
