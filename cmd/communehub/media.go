package main

import (
	"strconv"

	"github.com/communehub/communehub/meetings"
)

// mediaConfig is the meetings media (SFU) part of cfg; the values were
// checked when the configuration was parsed.
func mediaConfig(cfg Config) meetings.Config {
	m := meetings.DefaultConfig()
	m.UDPPort, _ = strconv.Atoi(cfg.MediaUDPPort)
	m.TCPPort, _ = strconv.Atoi(cfg.MediaTCPPort)
	m.ListenIP = cfg.MediaListenIP
	m.PublicIPs = splitList(cfg.MediaPublicIPs)
	m.STUNURLs = splitList(cfg.MediaSTUNURLs)
	m.TURNURLs = splitList(cfg.MediaTURNURLs)
	m.TURNUsername, m.TURNPassword = cfg.MediaTURNUser, cfg.MediaTURNPass
	m.OwnerStaleAfter = cfg.MediaOwnerStale
	m.InstanceID, m.PublicURL, m.Origins = cfg.InstanceID, cfg.PublicURL, cfg.OriginList()
	return m
}
