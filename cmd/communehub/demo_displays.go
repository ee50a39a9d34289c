package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"

	"github.com/communehub/communehub/displays"
)

// seedDisplaysDemo makes the demo walls (Sáng Nhè's commune wall and Điện
// Biên's province wall) and prints links that open them on a TV with no
// pairing. The links stay the same from start to start.
func seedDisplaysDemo(ctx context.Context, cfg Config, walls *displays.Service, stdout io.Writer) error {
	screens, err := walls.EnsureDemoScreens(ctx, filepath.Join(cfg.DataDir, "demo-displays.json"), []displays.DemoScreen{
		{Name: "Demo — Xã Sáng Nhè", Scope: demoCommune, Layout: displays.LayoutCommune, Classification: displays.Internal},
		{Name: "Demo — Tỉnh Điện Biên", Scope: demoProvince, Layout: displays.LayoutProvince, Classification: displays.Internal},
	})
	if err != nil {
		return err
	}
	base := publicBase(cfg)
	fmt.Fprintln(stdout, "\nDemo wall displays (open on a TV; pair more screens at "+base+"/displays/pair):")
	for _, s := range screens {
		fmt.Fprintf(stdout, "  %-24s %s/display#token=%s\n", s.Name, base, s.Token)
	}
	fmt.Fprintln(stdout)
	return nil
}

// publicBase is how a browser on this machine reaches the hub.
func publicBase(cfg Config) string {
	if cfg.PublicURL != "" {
		return strings.TrimRight(cfg.PublicURL, "/")
	}
	scheme := "http://"
	if cfg.TLSEnabled() {
		scheme = "https://"
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return scheme + "localhost:8080"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return scheme + net.JoinHostPort(host, port)
}
