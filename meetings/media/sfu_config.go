package media

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/communehub/communehub/meetings/sfu"
)

// Config is the media part of the meetings feature: the SFU's network
// settings and how hub instances share meetings. cmd/communehub maps its
// COMMUNEHUB_MEDIA_* settings onto it; DefaultConfig gives the defaults.
type Config struct {
	// UDPPort is the single UDP port all media uses (ICE UDP mux): the one
	// firewall rule a commune server needs. 0 picks a free port on ListenIP.
	UDPPort int
	// TCPPort is the ICE-TCP fallback port for links that block UDP; it may
	// equal UDPPort. 0 disables ICE-TCP.
	TCPPort int
	// ListenIP binds the media sockets to one address; empty binds all.
	ListenIP string
	// PublicIPs are advertised as well as the local addresses, for a server
	// behind a 1:1 NAT (e.g. the commune firewall forwards UDP 50000).
	PublicIPs []string
	// STUNURLs and TURNURLs are given to browsers and to the SFU;
	// TURNUsername and TURNPassword go with the TURN URLs.
	STUNURLs     []string
	TURNURLs     []string
	TURNUsername string
	TURNPassword string
	// Loopback advertises 127.0.0.1 candidates (a single-host demo, tests).
	Loopback bool

	// InstanceID names this hub instance in meeting_media_owner; it must
	// differ between instances sharing a database. Default: the host name.
	InstanceID string
	// PublicURL is how browsers reach this instance (http(s)://host[:port]);
	// participants of a meeting whose media lives here are sent to it.
	PublicURL string
	// OwnerStaleAfter is how long an owner may miss heartbeats before
	// another instance takes its meetings over.
	OwnerStaleAfter time.Duration
}

// DefaultConfig returns the defaults: UDP and TCP 50000 on every interface,
// no STUN/TURN, instance id from the host name, takeover after 30 s.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "communehub"
	}
	return Config{UDPPort: 50000, TCPPort: 50000, InstanceID: host, OwnerStaleAfter: 30 * time.Second}
}

// Validate names the first setting that cannot work.
func (c Config) Validate() error {
	if c.UDPPort < 0 || c.UDPPort > 65535 {
		return fmt.Errorf("media udp port %d: want 0..65535", c.UDPPort)
	}
	if c.TCPPort < 0 || c.TCPPort > 65535 {
		return fmt.Errorf("media tcp port %d: want 0..65535 (0 disables ICE-TCP)", c.TCPPort)
	}
	if c.ListenIP != "" && net.ParseIP(c.ListenIP) == nil {
		return fmt.Errorf("media listen ip %q: want an IP address", c.ListenIP)
	}
	for _, ip := range c.PublicIPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("media public ip %q: want an IP address", ip)
		}
	}
	for _, u := range c.STUNURLs {
		if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "stuns:") {
			return fmt.Errorf("stun url %q: want stun:host[:port]", u)
		}
	}
	for _, u := range c.TURNURLs {
		if !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
			return fmt.Errorf("turn url %q: want turn:host[:port][?transport=udp|tcp] or turns:", u)
		}
	}
	if len(c.TURNURLs) > 0 && (c.TURNUsername == "" || c.TURNPassword == "") {
		return fmt.Errorf("turn urls need a turn username and password")
	}
	if c.InstanceID == "" || len(c.InstanceID) > 100 {
		return fmt.Errorf("media instance id %q: want 1..100 characters", c.InstanceID)
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("public url %q: want http(s)://host[:port]", c.PublicURL)
		}
	}
	return nil
}

func (c Config) sfuConfig() sfu.Config {
	sc := sfu.Config{UDPPort: c.UDPPort, ListenIP: c.ListenIP, TCPPort: c.TCPPort, PublicIPs: c.PublicIPs, Loopback: c.Loopback}
	if c.UDPPort == 0 && c.ListenIP == "" {
		sc.ListenIP = "127.0.0.1"
	}
	if len(c.STUNURLs) > 0 {
		sc.ICEServers = append(sc.ICEServers, sfu.ICEServer{URLs: c.STUNURLs})
	}
	if len(c.TURNURLs) > 0 {
		sc.ICEServers = append(sc.ICEServers, sfu.ICEServer{URLs: c.TURNURLs, Username: c.TURNUsername, Credential: c.TURNPassword})
	}
	return sc
}
