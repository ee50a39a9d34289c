package backlog

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/communehub/communehub/hub"
)

// TestIncomingNumbersUnderConcurrency registers documents from many
// goroutines at once, some of which fail after taking a number: numbers
// must run 1..N per book and year, with no gap and no repeat.
func TestIncomingNumbersUnderConcurrency(t *testing.T) {
	s, _ := newTestService(t, nil)
	ctx := context.Background()
	const workers, each = 16, 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var numbers []int
	var failures int
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				in := IncomingInput{Unit: "03244", Subject: fmt.Sprintf("Công văn %d-%d", w, i), Issuer: "UBND tỉnh"}
				if i%4 == 3 {
					bogus := 1 // a number that is never the next one after the first: refused after it was taken
					in.Number = &bogus
				}
				d, err := s.RegisterIncoming(ctx, in, "test")
				mu.Lock()
				if err != nil {
					failures++
				} else {
					numbers = append(numbers, *d.Number)
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	sort.Ints(numbers)
	for i, n := range numbers {
		if n != i+1 {
			t.Fatalf("numbers are not 1..%d without gaps or repeats: %v", len(numbers), numbers)
		}
	}
	if failures < workers*each/4-1 || len(numbers)+failures != workers*each {
		t.Errorf("%d registered, %d refused", len(numbers), failures)
	}
	// Secret documents have their own book, starting at 1.
	d, err := s.RegisterIncoming(ctx, IncomingInput{Unit: "03244", Subject: "Mật", Secrecy: "mat"}, "test")
	if err != nil || *d.Number != 1 || *d.Book != "Văn bản đến mật" {
		t.Errorf("secret document: %+v %v", d, err)
	}
	// A new year starts a new series.
	d, err = s.RegisterIncoming(ctx, IncomingInput{Unit: "03244", Subject: "Năm cũ", ReceivedAt: "2025-12-31T10:00:00+07:00"}, "test")
	if err != nil || *d.Number != 1 || *d.Year != 2025 {
		t.Errorf("last year's book: %+v %v", d, err)
	}
}

func TestDuplicateNumberRefused(t *testing.T) {
	h := newTestHub(t, nil)
	reg := func(number int) (int, map[string]any) {
		return h.do(t, hub.RoleOfficer, "POST", "/api/v1/documents/incoming",
			jsonBody(t, map[string]any{"unit": "03244", "subject": "Công văn", "number": number}), nil)
	}
	if code, m := reg(1); code != 201 || m["number"].(float64) != 1 {
		t.Fatalf("first: %d %v", code, m)
	}
	if code, m := reg(1); code != 409 || errField(m) != "number" {
		t.Errorf("duplicate số đến: %d %v", code, m)
	}
	if code, m := reg(5); code != 422 || errField(m) != "number" {
		t.Errorf("gap: %d %v", code, m)
	}
	if code, m := reg(2); code != 201 || m["number"].(float64) != 2 {
		t.Errorf("next: %d %v", code, m)
	}
}

func TestIncomingLifecycleAndKPIs(t *testing.T) {
	clock := newClock(vnt(2026, 3, 16, 10, 0)) // Monday
	h := newTestHub(t, clock)
	s := h.s
	ctx := context.Background()
	reg := func(in IncomingInput) *IncomingDoc {
		t.Helper()
		in.Unit = "03244"
		if in.Subject == "" {
			in.Subject = "Công văn"
		}
		d, err := s.RegisterIncoming(ctx, in, "test")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// A: electronic, deadline Fri 13 Mar, done on Thu 12 Mar → on time.
	a := reg(IncomingInput{ReceivedAt: "2026-03-09T08:00:00+07:00", Deadline: "2026-03-13"})
	// B: paper, deadline Wed 11 Mar, still in progress → overdue backlog.
	b := reg(IncomingInput{ReceivedAt: "2026-03-09T09:00:00+07:00", Deadline: "2026-03-11", Medium: "paper"})
	// C: urgent (hỏa tốc) received Tue 10 Mar, never presented → urgent breach.
	reg(IncomingInput{ReceivedAt: "2026-03-10T15:00:00+07:00", Urgency: "hoa_toc"})
	// D: urgent (khẩn), assigned (presented) on arrival → no breach; done after its deadline → late.
	clock.Set(vnt(2026, 3, 11, 8, 30))
	d := reg(IncomingInput{ReceivedAt: "2026-03-11T08:00:00+07:00", Urgency: "khan",
		Assignments: []AssignmentInput{{Assignee: "Phòng Văn hóa", Role: "chu_tri", Due: "2026-03-12"}}})
	// E: not registered yet (chờ vào sổ).
	clock.Set(vnt(2026, 3, 16, 10, 0))
	e := reg(IncomingInput{ReceivedAt: "2026-03-16T08:00:00+07:00", Register: boolp(false)})
	if e.Number != nil || e.Status != DocToRegister {
		t.Fatalf("unregistered document: %+v", e)
	}
	if d.Deadline == nil || d.PresentedAt == nil {
		t.Fatalf("a lead assignment did not set the deadline and presentation: %+v", d)
	}
	clock.Set(vnt(2026, 3, 12, 9, 0))
	if _, err := s.PatchIncoming(ctx, a.ID, IncomingPatch{Status: DocDone}, "test"); err != nil {
		t.Fatal(err)
	}
	clock.Set(vnt(2026, 3, 13, 9, 0))
	if _, err := s.PatchIncoming(ctx, d.ID, IncomingPatch{Status: DocDone}, "test"); err != nil {
		t.Fatal(err)
	}
	clock.Set(vnt(2026, 3, 16, 10, 0))
	if _, err := s.PatchIncoming(ctx, b.ID, IncomingPatch{Status: DocInProgress}, "test"); err != nil {
		t.Fatal(err)
	}
	// Illegal move: 409 listing what is allowed.
	code, m := h.do(t, hub.RoleOfficer, "PATCH", fmt.Sprintf("/api/v1/documents/incoming/%d", a.ID), []byte(`{"status":"dang_xu_ly"}`), nil)
	if code != 409 || errField(m) != "status" || errMessage(m) != "status da_xu_ly cannot change to dang_xu_ly; allowed from da_xu_ly: none: the document is closed" {
		t.Errorf("done → in progress: %d %v", code, m)
	}
	// Registering E later gives it the next number.
	e2, err := s.PatchIncoming(ctx, e.ID, IncomingPatch{Status: DocPending}, "test")
	if err != nil || e2.Number == nil || *e2.Number != 5 {
		t.Fatalf("registration of E: %+v %v", e2, err)
	}
	// Outgoing: one fully signed, one signed by the person only.
	for _, agency := range []bool{true, false} {
		if _, err := s.RegisterOutgoing(ctx, OutgoingInput{Unit: "03244", Suffix: "UBND-VP", Subject: "Báo cáo", SignedPersonal: true, SignedOrg: agency}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	p, _ := ParsePeriod("2026-03-01", "2026-03-16", clock.Now())
	k, err := s.KPIs(ctx, "03244", p)
	if err != nil {
		t.Fatal(err)
	}
	got := k.Documents
	// incoming A–E = 5; backlog B, C, E = 3; overdue B = 1; urgent breach C = 1;
	// on time A of A, D = 1/2; electronic 4/5; outgoing fully signed 1/2.
	want := DocumentKPIs{Incoming: 5, Backlog: 3, Overdue: 1, UrgentBreaches: 1, Outgoing: 2,
		OnTimeCompletionRate: rate(1, 2), ElectronicShare: rate(4, 5), OutgoingFullySignedRate: rate(1, 2)}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("documents = %+v\nwant        %+v", got, want)
	}
	assertAggregatesMatchRebuild(t, s)
	// The outgoing number and reference.
	list, _, _ := s.ListOutgoing(ctx, "03244", 10, 0)
	if len(list) != 2 || list[0].Reference != "2/UBND-VP" {
		t.Errorf("outgoing list: %+v", list)
	}
	// A paper document cannot claim a digital signature.
	code, m = h.do(t, hub.RoleOfficer, "POST", "/api/v1/documents/outgoing",
		jsonBody(t, map[string]any{"unit": "03244", "suffix": "UBND", "subject": "x", "medium": "paper", "signed_personal": true}), nil)
	if code != 422 || errField(m) != "medium" {
		t.Errorf("signed paper: %d %v", code, m)
	}
}
