package displays

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// DemoScreen is a screen demo mode creates, with a ready /display#token=
// link.
type DemoScreen struct {
	Name           string `json:"name"`
	Scope          string `json:"scope"`
	Layout         string `json:"layout"`
	Classification string `json:"classification"`
	ID             int64  `json:"id"`
	Token          string `json:"token"`
}

// EnsureDemoScreens makes sure each of screens exists and returns them with
// their ids and tokens. The tokens are kept in the file at path (mode 0600,
// demo mode only) so that the links printed at each start stay the same and
// a browser left open on one survives restarts; a screen revoked since is
// created again.
func (s *Service) EnsureDemoScreens(ctx context.Context, path string, screens []DemoScreen) ([]DemoScreen, error) {
	known := map[string]DemoScreen{}
	switch b, err := os.ReadFile(path); {
	case err == nil:
		var list []DemoScreen
		if err := json.Unmarshal(b, &list); err != nil {
			return nil, fmt.Errorf("demo screens file %s: %w", path, err)
		}
		for _, d := range list {
			known[d.Name] = d
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	out := make([]DemoScreen, 0, len(screens))
	for _, want := range screens {
		if k, ok := known[want.Name]; ok && k.Token != "" {
			d, err := s.store.byToken(ctx, hashToken(k.Token))
			if err != nil {
				return nil, err
			}
			if d != nil {
				want.ID, want.Token = d.ID, k.Token
				out = append(out, want)
				continue
			}
		}
		unit, err := s.d.Units.Get(ctx, want.Scope)
		if err != nil {
			return nil, fmt.Errorf("demo screen %q: %w", want.Name, err)
		}
		in := &Display{Name: want.Name, Scope: unit.Code, ScopeLevel: unit.Level, Layout: want.Layout,
			Classification: want.Classification, Lang: "vi", Schedule: []ScheduleEntry{}}
		if e := checkLayout(in.Layout, in.ScopeLevel); e != nil {
			return nil, fmt.Errorf("demo screen %q: %w", want.Name, e)
		}
		token := newToken()
		d, err := s.store.create(ctx, in, hashToken(token), "demo")
		if err != nil {
			return nil, err
		}
		want.ID, want.Token = d.ID, token
		out = append(out, want)
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("demo screens file: %w", err)
	}
	return out, nil
}
