package hubtest

import (
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chromium returns the path of a Chromium (or Chrome) binary:
// COMMUNEHUB_CHROMIUM when set, else the first of /usr/bin/chromium,
// chromium, chromium-browser, google-chrome found. Without one it skips the
// test (fails it with CI=true). Under -short it skips the test: browser
// tests are not in the quick subset.
func Chromium(t testing.TB) string {
	t.Helper()
	SkipShort(t, "a browser test")
	if p := os.Getenv("COMMUNEHUB_CHROMIUM"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			skipOrFatal(t, "needs Chromium: COMMUNEHUB_CHROMIUM="+p+" is not an executable")
		}
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	skipOrFatal(t, "needs Chromium (apt-get install chromium)")
	return ""
}

// ChromeAllocatorOptions returns chromedp's defaults plus what tests need:
// the browser at path, headless, no sandbox (tests may run as root), no GPU,
// no background traffic (networking, component updates, sync, QUIC), a
// fresh profile in t.TempDir, and a fake camera and microphone that pages
// may use without a permission prompt. Cancel the allocator's context before
// the test ends (t.Cleanup registered after this call does), so that the
// browser has exited when the profile directory is removed.
func ChromeAllocatorOptions(t testing.TB, path string) []chromedp.ExecAllocatorOption {
	t.Helper()
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
	)
}
