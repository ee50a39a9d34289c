package displays

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"runtime/debug"
)

// BuildID identifies this build of the hub for screens: the VCS revision
// (when the binary was built from a checkout) and a hash of the embedded
// wall assets, so a change to either makes screens reload.
func BuildID() string {
	h := sha256.New()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" || s.Key == "vcs.modified" {
				h.Write([]byte(s.Key + "=" + s.Value + "\n"))
			}
		}
	}
	_ = fs.WalkDir(webFS, "web", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := webFS.ReadFile(path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}
