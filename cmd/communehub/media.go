package main

import "github.com/communehub/communehub/meetings/media"

// mediaConfig is the meetings media (SFU) part of cfg.
func mediaConfig(cfg Config) media.Config {
	m := media.DefaultConfig()
	m.UDPPort, m.TCPPort = cfg.MediaUDPPort, cfg.MediaTCPPort
	m.ListenIP = cfg.MediaListenIP
	m.PublicIPs = cfg.MediaPublicIPs
	m.STUNURLs = cfg.MediaSTUNURLs
	m.TURNURLs = cfg.MediaTURNURLs
	m.TURNUsername, m.TURNPassword = cfg.MediaTURNUser, cfg.MediaTURNPass
	m.OwnerStaleAfter = cfg.MediaOwnerStale
	m.InstanceID, m.PublicURL = cfg.InstanceID, cfg.PublicURL
	return m
}
