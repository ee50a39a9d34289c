package devices

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"net"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Snippets are what a technician pastes after creating a credential, so
// that the device (or the commune's Telegraf) connects with it at once:
// lines for an external Mosquitto's password_file and acl_file, and a
// Telegraf output. They carry the password, so they exist only in the
// response that creates the credential.
type Snippets struct {
	Broker            string `json:"broker"`             // host:port a device on the LAN connects to
	MosquittoPassword string `json:"mosquitto_password"` // a password_file line (mosquitto_passwd format)
	MosquittoACL      string `json:"mosquitto_acl"`      // acl_file lines for this login
	Telegraf          string `json:"telegraf"`           // telegraf.conf: outputs.mqtt as the hub reads it
	Publish           string `json:"mosquitto_pub"`      // a test: the device's status, retained
}

// mosquittoPasswordLine is a password_file line as mosquitto_passwd (2.x)
// writes it: PBKDF2-HMAC-SHA512, 101 iterations, a 12-byte salt, in
// "$7$iterations$salt$hash" with standard base64. Mosquitto reads it as it
// is, so no one has to run mosquitto_passwd with the password on a shell
// line.
func mosquittoPasswordLine(username, password string, salt []byte) string {
	key, err := pbkdf2.Key(sha512.New, password, salt, 101, 64)
	if err != nil {
		panic(err) // only for key lengths SHA-512 cannot give
	}
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("%s:$7$101$%s$%s", username, b64(salt), b64(key))
}

// snippetBroker is the broker as a device on the LAN sees it: the hub's
// broker address, with a loopback or unspecified host replaced by the host
// the technician's browser reached the hub at. scheme is tcp, or the
// external broker URL's (ssl, ws…).
func (s *Service) snippetBroker(c *fiber.Ctx) (scheme, hostport string) {
	scheme, addr := "tcp", s.BrokerAddr()
	if s.mode == "external" {
		if i := strings.Index(s.cfg.URL, "://"); i > 0 {
			scheme = s.cfg.URL[:i]
			if scheme == "mqtt" {
				scheme = "tcp"
			}
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, "1883"
	}
	if ip := net.ParseIP(host); host == "" || host == "localhost" || ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) {
		host = c.Hostname()
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
	}
	return scheme, net.JoinHostPort(host, port)
}

// snippets builds the pasteable configuration of a new credential.
func (s *Service) snippets(c *fiber.Ctx, cred Credential, password string) Snippets {
	scheme, broker := s.snippetBroker(c)
	salt := make([]byte, 12)
	_, _ = rand.Read(salt)
	sn := Snippets{Broker: broker, MosquittoPassword: mosquittoPasswordLine(cred.Username, password, salt)}
	prefix := s.cfg.TelegrafPrefix
	acl := []string{"user " + cred.Username}
	host, port, _ := net.SplitHostPort(broker)
	if cred.Device != nil {
		dev := *cred.Device
		acl = append(acl, fmt.Sprintf("topic readwrite %s/%s/%s/#", TopicPrefix, cred.Unit, dev))
		if prefix != "" {
			acl = append(acl, fmt.Sprintf("topic readwrite %s/%s/%s/#", prefix, cred.Unit, dev))
		}
		sn.Telegraf = fmt.Sprintf(`# telegraf.conf on %[3]s (Telegraf 1.28 or later)
[[outputs.mqtt]]
  servers = ["%[1]s://%[2]s"]
  topic = "%[4]s/%[5]s/%[3]s/telemetry"
  qos = 1
  keep_alive = 30
  username = "%[6]s"
  password = "%[7]s"
  data_format = "json"
  json_timestamp_units = "1ms"
  layout = "batch"

[[inputs.cpu]]
  totalcpu = true
  percpu = false
[[inputs.mem]]
`, scheme, broker, dev, TopicPrefix, cred.Unit, cred.Username, password)
		sn.Publish = fmt.Sprintf("mosquitto_pub -h %s -p %s -u '%s' -P '%s' -q 1 -r -t %s/%s/%s/status -m online",
			host, port, cred.Username, password, TopicPrefix, cred.Unit, dev)
	} else {
		acl = append(acl, fmt.Sprintf("topic readwrite %s/%s/#", TopicPrefix, cred.Unit))
		if prefix != "" {
			acl = append(acl, fmt.Sprintf("topic readwrite %s/%s/#", prefix, cred.Unit))
		}
		topic := prefix + "/" + cred.Unit + `/{{ .Tag "host" }}/{{ .Name }}`
		if prefix == "" { // no Telegraf prefix: each host on its own device topic
			topic = TopicPrefix + "/" + cred.Unit + `/{{ .Tag "host" }}/telemetry`
		}
		sn.Telegraf = fmt.Sprintf(`# telegraf.conf of the commune's agent (Telegraf 1.28 or later)
[[outputs.mqtt]]
  servers = ["%[1]s://%[2]s"]
  topic = '%[3]s'
  qos = 1
  keep_alive = 30
  username = "%[4]s"
  password = "%[5]s"
  data_format = "json"
  json_timestamp_units = "1ms"
  layout = "batch"

[[inputs.ping]]
  urls = ["192.168.1.1"]  # the LAN's devices, by address
  method = "native"
`, scheme, broker, topic, cred.Username, password)
	}
	sn.MosquittoACL = strings.Join(acl, "\n") + "\n"
	return sn
}
