package sfu

import (
	"fmt"
	"net"
	"time"
)

// Config is the media configuration of an Engine.
type Config struct {
	// UDPPort is the one UDP port every peer's media goes through (ICE UDP
	// mux). 0 picks an ephemeral port (tests).
	UDPPort int
	// ListenIP restricts the UDP and TCP sockets to one address; empty
	// listens on every interface.
	ListenIP string
	// TCPPort is the ICE-TCP port used when UDP is blocked; 0 disables
	// ICE-TCP, -1 picks an ephemeral port (tests).
	TCPPort int
	// PublicIPs are the addresses clients must use to reach this host when
	// it sits behind a 1:1 NAT. They are advertised next to the local
	// addresses (so LAN clients keep working).
	PublicIPs []string
	// ICEServers are the STUN/TURN servers given to Pion and to clients.
	ICEServers []ICEServer
	// Loopback advertises loopback candidates (single-host demos, tests).
	Loopback bool
	// DisconnectedTimeout and FailedTimeout tune ICE for flapping mobile
	// links; zero keeps 8 s and 30 s.
	DisconnectedTimeout, FailedTimeout time.Duration
	// ParallelFanout is the number of subscribers above which a packet is
	// written by the Engine's fan-out workers, one per CPU, in chunks of
	// this size, instead of by the goroutine that received it; zero keeps
	// 64.
	ParallelFanout int
}

// ICEServer is one STUN or TURN server.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

func (c *Config) setDefaults() {
	if c.DisconnectedTimeout == 0 {
		c.DisconnectedTimeout = 8 * time.Second
	}
	if c.FailedTimeout == 0 {
		c.FailedTimeout = 30 * time.Second
	}
	if c.ParallelFanout == 0 {
		c.ParallelFanout = 64
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if c.UDPPort < 0 || c.UDPPort > 65535 {
		return fmt.Errorf("udp port %d: want 0..65535", c.UDPPort)
	}
	if c.TCPPort < -1 || c.TCPPort > 65535 {
		return fmt.Errorf("ice-tcp port %d: want -1..65535", c.TCPPort)
	}
	if c.ParallelFanout < 0 {
		return fmt.Errorf("parallel fan-out %d: want 0 or more", c.ParallelFanout)
	}
	if c.ListenIP != "" && net.ParseIP(c.ListenIP) == nil {
		return fmt.Errorf("listen ip %q is not an IP address", c.ListenIP)
	}
	for _, ip := range c.PublicIPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("public ip %q is not an IP address", ip)
		}
	}
	for _, s := range c.ICEServers {
		if len(s.URLs) == 0 {
			return fmt.Errorf("ice server without urls")
		}
		for _, u := range s.URLs {
			if !validICEURL(u) {
				return fmt.Errorf("ice server url %q: want stun:, stuns:, turn: or turns:", u)
			}
		}
	}
	return nil
}
