package main

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/communehub/communehub/hub"
	"github.com/communehub/communehub/meetings"
)

// proceedingsConfig is the meetings records-and-proceedings part of cfg.
func proceedingsConfig(cfg Config) meetings.ProceedingsConfig {
	return meetings.ProceedingsConfig{DataDir: cfg.DataDir, DocMaxBytes: cfg.MeetingDocMax, DocTypes: cfg.MeetingDocTypes,
		ReconnectGrace: cfg.MeetingReconnectGrace, Instance: cfg.InstanceID}
}

// parseByteSize reads sizes like 50MiB, 512KiB, 1GiB or a plain number of
// bytes, up to the server's body limit (uploads).
func parseByteSize(s string) (int64, error) {
	n, err := parseSize(s, 1<<40)
	if err == nil && n > hub.ServerBodyLimit {
		err = fmt.Errorf("over the server's body limit of %d MiB", hub.ServerBodyLimit>>20)
	}
	return n, err
}

// parseSize reads a size with a TiB, GiB, MiB, KiB, GB, MB, KB or B
// suffix, or a plain number of bytes, from 1 byte to limit.
func parseSize(s string, limit int64) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(n), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("not a size")
	}
	if n > limit/mult {
		return 0, errors.New("too large")
	}
	return n * mult, nil
}

// runMinutes is `communehub minutes verify FILE [--key PUBLIC.pem]`: it
// checks signed minutes (the JSON of GET /api/v1/meetings/{id}/minutes, or
// the PDF of …/minutes.pdf with that JSON embedded) against this hub's key,
// keys given with --key, and, when the file names another key, the keys
// recorded in the database. It says what the signature covers: the whole
// record (v2) or the text only (v1). Exit 0 when valid, 1 not.
func runMinutes(ctx context.Context, cfg Config, log *slog.Logger, args []string, _ io.Reader, stdout io.Writer) error {
	usage := &usageError{"usage: communehub minutes verify FILE [--key PUBLIC_KEY.pem]"}
	if len(args) < 2 || args[0] != "verify" {
		return usage
	}
	file := args[1]
	fset := flag.NewFlagSet("minutes verify", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	var keyFiles []string
	fset.Func("key", "a trusted Ed25519 public key (PEM)", func(s string) error { keyFiles = append(keyFiles, s); return nil })
	if err := fset.Parse(args[2:]); err != nil || fset.NArg() > 0 {
		return usage
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	cp, err := meetings.ParseMinutesCopy(b)
	if err != nil {
		return fmt.Errorf("%s is not signed minutes: %w", file, err)
	}
	m := cp.Minutes
	trusted := map[string]ed25519.PublicKey{}
	if pub, err := meetings.ReadPublicKey(cfg.DataDir); err == nil {
		trusted[meetings.KeyID(pub)] = pub
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, kf := range keyFiles {
		pub, err := readPublicKeyPEM(kf)
		if err != nil {
			return err
		}
		trusted[meetings.KeyID(pub)] = pub
	}
	if _, ok := trusted[m.KeyID]; !ok && len(keyFiles) == 0 {
		// Signed by another instance: its key is in the database.
		err := withPool(ctx, cfg, log, func(pool *pgxpool.Pool) error {
			keys, err := meetings.KnownKeys(ctx, pool)
			for id, k := range keys {
				trusted[id] = k
			}
			return err
		})
		if err != nil {
			log.Warn("cannot read the hub's recorded keys", "err", err)
		}
	}
	v := cp.Verify(trusted)
	if !v.Valid {
		fmt.Fprintf(stdout, "INVALID: minutes of meeting %d (key %s): %s\n", v.Meeting, v.KeyID, v.Reason)
		return errInvalidMinutes
	}
	printVerified(stdout, m, v)
	return nil
}

// printVerified says what a valid signature vouches for, and for v1 what
// it does not.
func printVerified(w io.Writer, m *meetings.SignedMinutes, v meetings.Verification) {
	if v.Covers == meetings.CoversWholeRecord {
		fmt.Fprintf(w, "VALID: minutes of meeting %d %q, revision %d, approved by %s at %s\n", m.Meeting, m.Title, m.Revision, m.ApprovedBy, m.ApprovedAt)
		fmt.Fprintf(w, "  signed by key %s (fingerprint %s), format %s\n", v.KeyID, v.Fingerprint, v.Format)
		fmt.Fprintf(w, "  the signature covers the whole record: %s\n", strings.Join(v.Signed, ", "))
	} else {
		fmt.Fprintf(w, "VALID (text only): the text, SHA-256 %s, is what key %s (fingerprint %s) signed, format %s\n", v.SHA256, v.KeyID, v.Fingerprint, v.Format)
		fmt.Fprintf(w, "  NOT covered by the signature, do not rely on them: %s (this copy says meeting %d)\n", strings.Join(v.Unsigned, ", "), m.Meeting)
	}
	if v.Source == "pdf" {
		fmt.Fprintln(w, "  read from the JSON embedded in the PDF; the PDF's pages are exactly the hub's rendering of it")
	}
}

var errInvalidMinutes = errors.New("the minutes do not verify")

func readPublicKeyPEM(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: not PEM", path)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 public key", path)
	}
	return pub, nil
}

// seedMeetingsDemo schedules the demo meeting of the demo commune and prints
// its users' password once.
func seedMeetingsDemo(ctx context.Context, proc *meetings.Proceedings, auth *hub.Auth, log *slog.Logger, stdout io.Writer) error {
	s, err := proc.SeedDemo(ctx, auth, demoCommune)
	if err != nil {
		return err
	}
	if s.Password != "" {
		fmt.Fprintf(stdout, "Demo meeting %d of commune %s — users %s, password: %s  (shown once)\n  schedule: /meetings?unit=%s  paperless: /meetings/%d/paperless\n\n",
			s.Meeting, demoCommune, strings.Join(s.Users, ", "), s.Password, demoCommune, s.Meeting)
	} else {
		log.Info("demo meeting ready", "meeting", s.Meeting, "created", s.Created)
	}
	return nil
}
