package backlog

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/communehub/communehub/hub"
)

// Incoming document statuses (e-office practice).
const (
	DocToRegister = "cho_vao_so" // received, not yet registered
	DocPending    = "cho_xu_ly"  // registered, waiting for handling
	DocInProgress = "dang_xu_ly"
	DocDone       = "da_xu_ly"
	DocReturned   = "tra_lai" // returned to the sender
	DocRecalled   = "thu_hoi" // recalled by the sender
)

var docTransitions = map[string][]string{
	DocToRegister: {DocPending, DocReturned, DocRecalled},
	DocPending:    {DocInProgress, DocDone, DocReturned, DocRecalled},
	DocInProgress: {DocDone, DocReturned, DocRecalled},
	DocDone:       {},
	DocReturned:   {},
	DocRecalled:   {},
}

// docBacklog reports whether a status counts as backlog (tồn đọng).
func docBacklog(s string) bool { return s == DocToRegister || s == DocPending || s == DocInProgress }

var (
	urgencies = []string{"thuong", "khan", "thuong_khan", "hoa_toc"}
	secrecies = []string{"thuong", "mat", "toi_mat", "tuyet_mat"}
	media     = []string{"paper", "electronic"}
	docRoles  = []string{"chu_tri", "phoi_hop", "de_biet"}
)

// Assignment is a unit or person asked to handle (lead), support or read
// a document, with an optional deadline.
type Assignment struct {
	ID         int64      `json:"id"`
	Assignee   string     `json:"assignee"`
	Role       string     `json:"role"`
	DueAt      *time.Time `json:"due_at"`
	AssignedAt time.Time  `json:"assigned_at"`
	AssignedBy string     `json:"assigned_by"`
	DoneAt     *time.Time `json:"done_at"`
}

// IncomingDoc is a văn bản đến.
type IncomingDoc struct {
	ID             int64        `json:"id"`
	Unit           string       `json:"unit"`
	Province       string       `json:"province"`
	Agency         *string      `json:"agency"`
	Book           *string      `json:"book"`
	Year           *int         `json:"year"`
	Number         *int         `json:"number"` // số đến
	ReceivedAt     time.Time    `json:"received_at"`
	RegisteredAt   *time.Time   `json:"registered_at"`
	Reference      string       `json:"reference"`
	DocDate        *string      `json:"doc_date"`
	DocType        string       `json:"doc_type"`
	Issuer         string       `json:"issuer"`
	Subject        string       `json:"subject"`
	Urgency        string       `json:"urgency"`
	Secrecy        string       `json:"secrecy"`
	Medium         string       `json:"medium"`
	Status         string       `json:"status"`
	Deadline       *time.Time   `json:"deadline"`
	UrgentDeadline *time.Time   `json:"urgent_deadline"`
	Directive      string       `json:"directive"`
	PresentedAt    *time.Time   `json:"presented_at"`
	CompletedAt    *time.Time   `json:"completed_at"`
	EndedAt        *time.Time   `json:"ended_at"`
	Assignments    []Assignment `json:"assignments,omitempty"`
	CreatedAt      time.Time    `json:"created_at"`
	UpdatedAt      time.Time    `json:"updated_at"`

	bookID *int
}

// OutgoingDoc is a văn bản đi.
type OutgoingDoc struct {
	ID             int64     `json:"id"`
	Unit           string    `json:"unit"`
	Province       string    `json:"province"`
	Agency         *string   `json:"agency"`
	Book           string    `json:"book"`
	Year           int       `json:"year"`
	Number         int       `json:"number"`
	Reference      string    `json:"reference"`
	IssuedAt       time.Time `json:"issued_at"`
	DocType        string    `json:"doc_type"`
	Subject        string    `json:"subject"`
	Signer         string    `json:"signer"`
	Recipients     string    `json:"recipients"`
	Urgency        string    `json:"urgency"`
	Secrecy        string    `json:"secrecy"`
	Medium         string    `json:"medium"`
	SignedPersonal bool      `json:"signed_personal"`
	SignedOrg      bool      `json:"signed_org"`
	CreatedBy      string    `json:"created_by"`
	CreatedAt      time.Time `json:"created_at"`
}

// AssignmentInput is one assignment in a document request.
type AssignmentInput struct {
	Assignee string `json:"assignee"`
	Role     string `json:"role"`
	Due      string `json:"due"`
}

// IncomingInput is the body of POST /api/v1/documents/incoming.
type IncomingInput struct {
	Unit        string            `json:"unit"`
	Agency      string            `json:"agency"`
	Book        string            `json:"book"`
	Number      *int              `json:"number"` // optional: must be the book's next number
	ReceivedAt  string            `json:"received_at"`
	Reference   string            `json:"reference"`
	DocDate     string            `json:"doc_date"`
	DocType     string            `json:"doc_type"`
	Issuer      string            `json:"issuer"`
	Subject     string            `json:"subject"`
	Urgency     string            `json:"urgency"`
	Secrecy     string            `json:"secrecy"`
	Medium      string            `json:"medium"`
	Deadline    string            `json:"deadline"`
	Register    *bool             `json:"register"` // default true; false leaves it "chờ vào sổ"
	Directive   string            `json:"directive"`
	Assignments []AssignmentInput `json:"assignments"`
}

// IncomingPatch is the body of PATCH /api/v1/documents/incoming/{id}.
type IncomingPatch struct {
	Status    string            `json:"status"`
	Deadline  *string           `json:"deadline"` // "" clears it
	Directive *string           `json:"directive"`
	Assign    []AssignmentInput `json:"assign"`
	DoneIDs   []int64           `json:"done"` // assignments finished
}

// OutgoingInput is the body of POST /api/v1/documents/outgoing.
type OutgoingInput struct {
	Unit           string `json:"unit"`
	Agency         string `json:"agency"`
	Book           string `json:"book"`
	Suffix         string `json:"suffix"` // ký hiệu after the number, e.g. UBND-VP
	IssuedAt       string `json:"issued_at"`
	DocType        string `json:"doc_type"`
	Subject        string `json:"subject"`
	Signer         string `json:"signer"`
	Recipients     string `json:"recipients"`
	Urgency        string `json:"urgency"`
	Secrecy        string `json:"secrecy"`
	Medium         string `json:"medium"`
	SignedPersonal bool   `json:"signed_personal"`
	SignedOrg      bool   `json:"signed_org"`
}

// parseAPITime reads RFC 3339, or a bare YYYY-MM-DD meaning the end of
// that day (23:59:59, Vietnam time). Empty is nil.
func parseAPITime(field, s string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return &t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, VN); err == nil {
		e := t.Add(24*time.Hour - time.Second)
		return &e, nil
	}
	return nil, hub.FieldError(field, "must be an RFC 3339 time (2026-06-27T17:00:00+07:00) or a date YYYY-MM-DD, not %q", clip(s))
}

func oneOfField(field, v, def string, allowed []string) (string, error) {
	if v == "" {
		v = def
	}
	if !slices.Contains(allowed, v) {
		return "", hub.FieldError(field, "must be one of %s, not %q", strings.Join(allowed, ", "), clip(v))
	}
	return v, nil
}

func limitText(field, v string, max int) (string, error) {
	v = strings.TrimSpace(v)
	if len(v) > max {
		return "", hub.FieldError(field, "at most %d bytes", max)
	}
	return v, nil
}

func (s *Service) checkAgency(ctx context.Context, db dbtx, code string) (*string, error) {
	if code == "" {
		return nil, nil
	}
	ok, err := agencyExists(ctx, db, code)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, unprocessable("agency", "unknown agency %q (PUT /api/v1/agencies/%s first)", code, code)
	}
	return &code, nil
}

func defaultBook(direction, secrecy, book string) string {
	if book != "" {
		return book
	}
	name := "Văn bản đến"
	if direction == "out" {
		name = "Văn bản đi"
	}
	if secrecy != "thuong" {
		name += " mật" // secret documents are registered separately (Decree 30/2020 Art. 22)
	}
	return name
}
