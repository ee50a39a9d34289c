package devices

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/communehub/communehub/hub/hubtest"
)

// v5Client is a minimal MQTT 5 client on a raw socket (paho.mqtt.golang
// speaks 3.1.1 only): enough to see a PUBACK's reason code.
type v5Client struct {
	c net.Conn
}

func dialV5(t *testing.T, broker, user, pass string) *v5Client {
	t.Helper()
	c, err := net.DialTimeout("tcp", broker, hubtest.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	vh := appendMQTTString(nil, "MQTT")
	vh = append(vh, 5, 0xc2, 0, 60, 0) // level 5; username, password, clean start; keep-alive 60 s; no properties
	vh = appendMQTTString(vh, fmt.Sprintf("v5-%d", time.Now().UnixNano()))
	vh = appendMQTTString(vh, user)
	vh = appendMQTTString(vh, pass)
	if _, err := c.Write(append(appendRemLen([]byte{0x10}, len(vh)), vh...)); err != nil {
		t.Fatal(err)
	}
	v := &v5Client{c: c}
	typ, body := v.read(t)
	if typ != 0x20 || len(body) < 2 || body[1] != 0 {
		t.Fatalf("CONNACK %x %x", typ, body)
	}
	return v
}

// read returns the next packet's type byte and body, failing the test when
// none comes within the deadline (a hang).
func (v *v5Client) read(t *testing.T) (byte, []byte) {
	t.Helper()
	_ = v.c.SetReadDeadline(time.Now().Add(hubtest.Timeout(5 * time.Second)))
	var h [1]byte
	if _, err := io.ReadFull(v.c, h[:]); err != nil {
		t.Fatalf("no packet from the broker: %v", err)
	}
	n, mul := 0, 1
	for {
		var b [1]byte
		if _, err := io.ReadFull(v.c, b[:]); err != nil {
			t.Fatal(err)
		}
		n += int(b[0]&0x7f) * mul
		mul *= 128
		if b[0]&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(v.c, body); err != nil {
		t.Fatal(err)
	}
	return h[0], body
}

// publish1 sends a QoS 1 PUBLISH and returns the PUBACK's reason code.
func (v *v5Client) publish1(t *testing.T, id uint16, topic, payload string) byte {
	t.Helper()
	vh := appendMQTTString(nil, topic)
	vh = binary.BigEndian.AppendUint16(vh, id)
	vh = append(vh, 0) // no properties
	vh = append(vh, payload...)
	if _, err := v.c.Write(append(appendRemLen([]byte{0x32}, len(vh)), vh...)); err != nil {
		t.Fatal(err)
	}
	typ, body := v.read(t)
	if typ>>4 != 4 || len(body) < 2 || binary.BigEndian.Uint16(body) != id {
		t.Fatalf("publish %s: got packet %x %x, want PUBACK %d", topic, typ, body, id)
	}
	if len(body) == 2 {
		return 0 // success, reason code omitted
	}
	return body[2]
}

// A publish outside a device's ACL, $SYS/… included, never leaves the
// device waiting: MQTT 5 gets PUBACK 0x87 and keeps its connection, MQTT
// 3.1.1 (no negative PUBACK) is disconnected. Every breach, publish or
// subscribe, is counted as not_allowed; nothing is stored.
func TestACLBreachesAreAnsweredAndCounted(t *testing.T) {
	t.Parallel()
	pool := seededDB(t)
	h := startTestHub(t, pool, Config{})
	dev, secret, err := CreateCredential(context.Background(), pool, "03244", "router-1")
	if err != nil {
		t.Fatal(err)
	}
	notAllowed := func() int64 { return h.svc.Stats().Rejected["not_allowed"] }

	// MQTT 5.
	v := dialV5(t, h.broker, dev.Username, secret)
	for i, topic := range []string{"$SYS/broker/load", "communehub/03244/switch-1/telemetry", "$share/g/communehub/03244/router-1/telemetry"} {
		if rc := v.publish1(t, uint16(i+1), topic, `{"metrics":{"latency_ms":1}}`); rc != 0x87 {
			t.Errorf("MQTT 5 publish to %s: PUBACK reason %#x, want 0x87", topic, rc)
		}
	}
	if rc := v.publish1(t, 9, "communehub/03244/router-1/telemetry", `{"metrics":{"latency_ms":1}}`); rc != 0 {
		t.Fatalf("own topic after the breaches: PUBACK reason %#x", rc)
	}
	hubtest.WaitFor(t, 3*time.Second, func() bool { return notAllowed() == 3 }, "3 MQTT 5 breaches counted")

	// MQTT 3.1.1: a QoS 1 publish to $SYS or to another device ends the
	// connection; the publish token completes instead of hanging.
	for _, topic := range []string{"$SYS/broker/load", "communehub/03244/switch-1/telemetry"} {
		lost := make(chan struct{})
		c, err := mqttClient(t, h.broker, dev.Username, secret, func(o *paho.ClientOptions) {
			o.SetConnectionLostHandler(func(paho.Client, error) { close(lost) })
		})
		if err != nil {
			t.Fatal(err)
		}
		tok := c.Publish(topic, 1, false, "x")
		select {
		case <-lost:
		case <-time.After(hubtest.Timeout(5 * time.Second)):
			t.Fatalf("MQTT 3.1.1 publish to %s: neither PUBACK nor disconnect", topic)
		}
		if !tok.WaitTimeout(hubtest.Timeout(5*time.Second)) || tok.Error() == nil {
			t.Errorf("MQTT 3.1.1 publish to %s: token %v", topic, tok.Error())
		}
	}
	// A subscription outside the ACL is refused (SUBACK 0x80) and counted.
	c, err := mqttClient(t, h.broker, dev.Username, secret)
	if err != nil {
		t.Fatal(err)
	}
	tok := c.Subscribe("communehub/03244/+/telemetry", 1, nil)
	if !tok.WaitTimeout(hubtest.Timeout(5 * time.Second)) {
		t.Fatal("subscribe not answered")
	}
	if rc := tok.(*paho.SubscribeToken).Result()["communehub/03244/+/telemetry"]; rc != 0x80 {
		t.Errorf("SUBACK %#x, want 0x80", rc)
	}
	hubtest.WaitFor(t, 3*time.Second, func() bool { return notAllowed() == 6 }, "every breach counted")
	hubtest.WaitFor(t, 3*time.Second, func() bool { return h.count(t, "true") == 1 }, "only the allowed row stored")
	if n := h.count(t, "device<>'router-1'"); n != 0 {
		t.Fatalf("%d rows stored from breaches", n)
	}
}
