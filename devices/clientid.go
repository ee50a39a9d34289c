package devices

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// defaultClientID returns the client id the hub uses on an external broker
// when none is configured: "communehub-{host}-{random}", made once and kept
// in file so that the hub's persistent session survives restarts, while
// two hubs (on one host, or in containers with one hostname) never share
// one and take each other's session over. An empty file name makes a new
// id each time. made reports a new id.
func defaultClientID(file string) (id string, made bool, err error) {
	if file != "" {
		if b, err := os.ReadFile(file); err == nil {
			if id := strings.TrimSpace(string(b)); id != "" && len(id) <= 128 && !strings.ContainsAny(id, "\x00\n") {
				return id, false, nil
			}
		} else if !os.IsNotExist(err) {
			return "", false, fmt.Errorf("mqtt client id file: %w", err)
		}
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "host"
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	id = "communehub-" + sanitizeID(host) + "-" + hex.EncodeToString(suffix)
	if file == "" {
		return id, true, nil
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return "", false, fmt.Errorf("mqtt client id file: %w", err)
	}
	if err := os.WriteFile(file, []byte(id+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("mqtt client id file: %w", err)
	}
	return id, true, nil
}
