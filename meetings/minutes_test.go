package meetings

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixedLog is a small meeting told by its log: two items discussed, a
// named and a secret vote, a member who dropped and left, one absent.
func fixedMinutesInput(t testing.TB) MinutesInput {
	t.Helper()
	at := func(min int) time.Time {
		return time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC).Add(time.Duration(min) * time.Minute)
	}
	var evs []ProcEvent
	add := func(min int, kind string, actor int64, data any) {
		b, err := json.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ProcEvent{Seq: int64(len(evs) + 1), At: at(min), Kind: kind, Actor: actor, Data: b})
	}
	add(-30, EvMarked, 2, evAttendance{Invitee: 6, Status: AttAbsent, Reason: "Đi công tác huyện"})
	add(-2, EvJoined, 1, evAttendance{Invitee: 1, Mode: AttInHall})
	add(-2, EvJoined, 2, evAttendance{Invitee: 2, Mode: AttInHall})
	add(-1, EvJoined, 3, evAttendance{Invitee: 3, Mode: AttOnline})
	add(-1, EvJoined, 4, evAttendance{Invitee: 4, Mode: AttOnline})
	add(0, EvJoined, 5, evAttendance{Invitee: 5, Mode: AttInHall})
	add(0, EvJoined, 7, evAttendance{Invitee: 7, Mode: AttInHall})
	add(0, EvMeetingOpened, 1, struct{}{})
	add(1, EvItemOpened, 1, evItem{Item: 10})
	add(1, EvDocShown, 1, evDoc{Doc: 100, Version: 2, Page: 1})
	add(2, EvHandRaised, 3, evHand{Invitee: 3, Item: 10})
	add(2, EvHandRaised, 7, evHand{Invitee: 7, Item: 10})
	add(3, EvFloorGiven, 1, evHand{Invitee: 3, Item: 10})
	add(7, EvFloorGiven, 1, evHand{Invitee: 7, Item: 10})
	add(9, EvFloorEnded, 7, evFloorEnded{Invitee: 7, Item: 10, Seconds: 120})
	add(10, EvVoteOpened, 1, evVoteOpened{Vote: 1, Item: 10, Question: "Thông qua báo cáo kinh tế - xã hội tháng 11", Rule: PassMajorityOfSeats, Seats: 6, Present: 5})
	for i, c := range []struct {
		inv    int64
		choice string
	}{{1, ChoiceYes}, {2, ChoiceYes}, {3, ChoiceYes}, {5, ChoiceNo}, {4, ChoiceAbstain}} {
		add(10+i/3, EvVoteCast, c.inv, evVoteCast{Vote: 1, Invitee: c.inv, Choice: c.choice})
	}
	add(12, EvVoteClosed, 1, evVoteClosed{Vote: 1, Tally: PassMajorityOfSeats.Evaluate(6, 5, 3, 1, 1)})
	add(20, EvDropped, 0, evAttendance{Invitee: 4})
	since := at(20)
	add(22, EvLeft, 0, evAttendance{Invitee: 4, Since: &since})
	add(25, EvItemOpened, 1, evItem{Item: 11})
	add(26, EvVoteOpened, 1, evVoteOpened{Vote: 2, Item: 11, Question: "Phê duyệt kế hoạch sửa đường vào bản Huổi Lụ", Secret: true, Rule: PassTwoThirdsOfSeats, Seats: 6, Present: 4})
	for _, inv := range []int64{1, 2, 3, 5} {
		add(27, EvVoteCast, inv, evVoteCast{Vote: 2, Invitee: inv})
	}
	add(28, EvVoteClosed, 1, evVoteClosed{Vote: 2, Tally: PassTwoThirdsOfSeats.Evaluate(6, 4, 3, 1, 0)})
	add(45, EvMeetingClosed, 1, struct{}{})

	item10, item11 := int64(10), int64(11)
	pages := 12
	return MinutesInput{
		Meeting: Meeting{ID: 42, Unit: "03244", Title: "Phiên họp thường kỳ UBND xã tháng 12 năm 2026", StartsAt: at(0),
			Location: "Hội trường UBND xã Sáng Nhè", Online: true, Seats: 6, QuorumRule: QuorumTwoThirdsOfSeats, PassRule: PassMajorityOfSeats},
		UnitName: "Xã Sáng Nhè",
		Invitees: []*Invitee{
			{ID: 1, Name: "Lò Văn Minh", Position: "Chủ tịch UBND xã", Role: RoleChair},
			{ID: 2, Name: "Quàng Thị Hoa", Position: "Công chức Văn phòng - Thống kê", Role: RoleMember, Secretary: true},
			{ID: 3, Name: "Mùa A Dình", Position: "Phó Chủ tịch UBND xã", Role: RoleMember},
			{ID: 4, Name: "Lường Văn Thắng", Position: "Phó Chủ tịch UBND xã", Role: RoleMember},
			{ID: 5, Name: "Cà Thị Lan", Position: "Ủy viên UBND xã", Role: RoleMember},
			{ID: 6, Name: "Vàng A Sử", Position: "Ủy viên UBND xã", Role: RoleMember},
			{ID: 7, Name: "Giàng A Chu", Position: "Trưởng bản Huổi Lụ", Role: RoleGuest},
			{ID: 8, Name: "Tòng Văn Hải", Position: "Cán bộ Đảng ủy", Role: RoleObserver},
		},
		Agenda: []AgendaItem{
			{ID: 10, Position: 1, Title: "Báo cáo kinh tế - xã hội tháng 11", Presenter: "Mùa A Dình"},
			{ID: 11, Position: 2, Title: "Kế hoạch sửa đường vào bản Huổi Lụ", Presenter: "Lường Văn Thắng"},
			{ID: 12, Position: 3, Title: "Phân bổ kinh phí phòng, chống rét"},
		},
		Documents: []*Document{
			{ID: 100, Item: &item10, Title: "Báo cáo KT-XH tháng 11", Versions: []DocVersion{
				{Version: 1, Filename: "bao-cao-t11.pdf", Size: 80_000, SHA256: strings.Repeat("ab", 32)},
				{Version: 2, Filename: "bao-cao-t11-sua.pdf", Size: 1_300_000, SHA256: strings.Repeat("cd", 32), Pages: &pages}}},
			{ID: 101, Item: &item11, Title: "Dự toán sửa đường", Versions: []DocVersion{
				{Version: 1, Filename: "du-toan.xlsx", Size: 24_000, SHA256: strings.Repeat("ef", 32)}}},
			{ID: 102, Item: nil, Title: "Giấy mời họp", Versions: []DocVersion{
				{Version: 1, Filename: "giay-moi.pdf", Size: 900, SHA256: strings.Repeat("01", 32)}}},
		},
		Events: evs,
	}
}

func TestDraftMinutesGolden(t *testing.T) {
	text, err := DraftMinutes(fixedMinutesInput(t))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "minutes_draft.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestDraftMinutesGolden -update to create it)", err)
	}
	if text != string(want) {
		t.Errorf("draft differs from %s (go test -update rewrites it):\n%s", golden, lineDiff(string(want), text))
	}
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			b.WriteString("- " + a + "\n+ " + c + "\n")
		}
	}
	return b.String()
}

func TestDraftMinutesRefusesABrokenLog(t *testing.T) {
	in := fixedMinutesInput(t)
	in.Events = append(in.Events[:3:3], in.Events[4:]...) // a gap in the sequence
	if _, err := DraftMinutes(in); err == nil {
		t.Fatal("a log with a gap was drafted")
	}
}

func TestSignerKeyIsCreatedOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	ids := make([]string, 4)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := LoadOrCreateSigner(dir)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = s.KeyID()
		}()
	}
	wg.Wait()
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Fatalf("concurrent starts made different keys: %v", ids)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, SigningKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
	again, err := LoadOrCreateSigner(dir)
	if err != nil || again.KeyID() != ids[0] {
		t.Fatalf("reloaded key %v, %v", again, err)
	}
	pub, err := ReadPublicKey(dir)
	if err != nil || KeyID(pub) != ids[0] {
		t.Fatalf("ReadPublicKey: %v", err)
	}
	if err := os.WriteFile(filepath.Join(t.TempDir(), "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// signedFixture is the fixed meeting's minutes signed as the hub signs them
// now (communehub-minutes-v2), with the key that verifies them.
func signedFixture(t testing.TB) (*SignedMinutes, map[string]ed25519.PublicKey) {
	t.Helper()
	s, err := LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	text, err := DraftMinutes(fixedMinutesInput(t))
	if err != nil {
		t.Fatal(err)
	}
	m := &SignedMinutes{Meeting: 42, Unit: "03244", UnitName: "Xã Sáng Nhè", Title: "Phiên họp thường kỳ UBND xã tháng 12 năm 2026",
		StartsAt: "2026-12-01T01:00:00Z", OpenedAt: "2026-12-01T01:00:00Z", ClosedAt: "2026-12-01T01:45:00Z", Revision: 3,
		ApprovedBy: "Lò Văn Minh", ApprovedAt: "2026-12-01T03:10:00.123456Z", Text: text}
	if _, err := signMinutesV2(m, s); err != nil {
		t.Fatal(err)
	}
	return m, map[string]ed25519.PublicKey{s.KeyID(): s.PublicKey()}
}

// v1Fixture is the same text signed as the hub signed before v2: the
// SHA-256 of the text only.
func v1Fixture(t testing.TB, s *Signer) *SignedMinutes {
	t.Helper()
	text, err := DraftMinutes(fixedMinutesInput(t))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(text))
	return &SignedMinutes{Format: MinutesFormatV1, Meeting: 42, Unit: "03244", Title: "Phiên họp", Revision: 3,
		ApprovedBy: "Lò Văn Minh", ApprovedAt: "2026-12-01T03:10:00Z", Text: text, SHA256: hex.EncodeToString(sum[:]),
		Signature: base64.StdEncoding.EncodeToString(s.Sign(sum[:])), KeyID: s.KeyID(),
		PublicKey: base64.StdEncoding.EncodeToString(s.PublicKey())}
}

func TestMinutesSignatureVerifies(t *testing.T) {
	m, keys := signedFixture(t)
	if v := m.Verify(keys); !v.Valid {
		t.Fatalf("genuine minutes: %+v", v)
	}
	// A round trip through JSON (what GET …/minutes serves) still verifies.
	b, _ := json.Marshal(m)
	back, err := DecodeSignedMinutes(b)
	if err != nil || !back.Verify(keys).Valid {
		t.Fatalf("after JSON: %v", err)
	}

	other, _ := LoadOrCreateSigner(t.TempDir())
	tampered := []struct {
		name   string
		change func(m *SignedMinutes)
		reason string
	}{
		{"one letter of the text", func(m *SignedMinutes) { m.Text = strings.Replace(m.Text, "THÔNG QUA", "THÔNG QUA.", 1) }, "changed after signing"},
		{"text and digest together", func(m *SignedMinutes) {
			m.Text = strings.Replace(m.Text, "Đồng ý 3/6", "Đồng ý 5/6", 1)
			sum := sha256.Sum256([]byte(m.Text))
			m.SHA256 = hex.EncodeToString(sum[:])
		}, "signature does not match"},
		{"a signature by another key under this key's id", func(m *SignedMinutes) {
			c := *m
			signMinutesV2(&c, other)
			m.Signature = c.Signature
		}, "signature does not match"},
		{"signed by an unknown key", func(m *SignedMinutes) { signMinutesV2(m, other) }, "does not know"},
		{"garbled signature", func(m *SignedMinutes) { m.Signature = "not base64!" }, "not a base64"},
		{"other format", func(m *SignedMinutes) { m.Format = "v0" }, "unknown format"},
	}
	for _, tc := range tampered {
		c := *m
		tc.change(&c)
		v := c.Verify(keys)
		if v.Valid || !strings.Contains(v.Reason, tc.reason) {
			t.Errorf("%s: %+v", tc.name, v)
		}
	}
}
