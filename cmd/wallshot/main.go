// Command wallshot saves a screenshot of a wall display page, for the
// README and for checking a layout on a real hub:
//
//	wallshot [-size 1920x1080] [-wait 5s] [-chromium /usr/bin/chromium] URL OUT.png
//
// URL is a /display#token=… link (demo mode prints them). It waits until
// the wall is live and every tile has data, then waits -wait more so that
// client-side series (device latency) fill in.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/chromedp/chromedp"
)

func main() {
	size := flag.String("size", "1920x1080", "viewport WIDTHxHEIGHT")
	wait := flag.Duration("wait", 5*time.Second, "extra time after the wall is live")
	chromium := flag.String("chromium", "/usr/bin/chromium", "browser binary")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: wallshot [flags] URL OUT.png")
		os.Exit(2)
	}
	var w, h int64
	if _, err := fmt.Sscanf(*size, "%dx%d", &w, &h); err != nil || w <= 0 || h <= 0 {
		fmt.Fprintln(os.Stderr, "wallshot: -size must be WIDTHxHEIGHT, e.g. 1920x1080")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), flag.Arg(1), *chromium, w, h, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "wallshot:", err)
		os.Exit(1)
	}
}

func run(url, out, chromium string, w, h int64, wait time.Duration) error {
	dir, err := os.MkdirTemp("", "wallshot-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.UserDataDir(dir),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second+wait)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h), chromedp.Navigate(url)); err != nil {
		return err
	}
	ready := `!!(document.querySelector('.conn') && ['live', 'pairing'].includes(document.querySelector('.conn').dataset.state))`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](ready, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		return errors.New("the wall did not come live within 30s")
	}
	if err := chromedp.Do(ctx, chromedp.Sleep(wait)); err != nil {
		return err
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return err
	}
	return os.WriteFile(out, png, 0o644)
}
