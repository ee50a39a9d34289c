package backlog

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/communehub/communehub/hub"
	"github.com/jackc/pgx/v5"
)

// RegisterOutgoing numbers and records an outgoing document.
func (s *Service) RegisterOutgoing(ctx context.Context, in OutgoingInput, actor string) (*OutgoingDoc, error) {
	now := s.now()
	unit, err := s.documentCommune(in.Unit)
	if err != nil {
		return nil, err
	}
	o := &OutgoingDoc{Unit: unit.Code, Province: unit.Province, SignedPersonal: in.SignedPersonal, SignedOrg: in.SignedOrg, CreatedBy: actor}
	if o.Urgency, err = oneOfField("urgency", in.Urgency, "thuong", urgencies); err != nil {
		return nil, err
	}
	if o.Secrecy, err = oneOfField("secrecy", in.Secrecy, "thuong", secrecies); err != nil {
		return nil, err
	}
	if o.Medium, err = oneOfField("medium", in.Medium, "electronic", media); err != nil {
		return nil, err
	}
	suffix, err := limitText("suffix", in.Suffix, 60)
	if err != nil {
		return nil, err
	}
	if suffix == "" || strings.ContainsAny(suffix, " /") {
		return nil, hub.FieldError("suffix", "is required: the ký hiệu after the number, e.g. UBND-VP (no spaces or slashes)")
	}
	for _, f := range []struct {
		name, src string
		dst       *string
		max       int
	}{{"doc_type", in.DocType, &o.DocType, 100}, {"subject", in.Subject, &o.Subject, 2000},
		{"signer", in.Signer, &o.Signer, 200}, {"recipients", in.Recipients, &o.Recipients, 2000}} {
		if *f.dst, err = limitText(f.name, f.src, f.max); err != nil {
			return nil, err
		}
	}
	if o.Subject == "" {
		return nil, hub.FieldError("subject", "is required (trích yếu)")
	}
	if o.Medium == "paper" && (o.SignedPersonal || o.SignedOrg) {
		return nil, unprocessable("medium", "a paper document carries no digital signature")
	}
	book, err := limitText("book", in.Book, 100)
	if err != nil {
		return nil, err
	}
	issued, err := parseAPITime("issued_at", in.IssuedAt)
	if err != nil {
		return nil, err
	}
	o.IssuedAt = now
	if issued != nil {
		if issued.After(now.Add(time.Hour)) {
			return nil, unprocessable("issued_at", "is in the future")
		}
		o.IssuedAt = *issued
	}
	o.Book, o.Year = defaultBook("out", o.Secrecy, book), o.IssuedAt.In(VN).Year()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if o.Agency, err = s.checkAgency(ctx, tx, in.Agency); err != nil {
			return err
		}
		if err := s.lockProvinces(ctx, tx, []string{o.Province}); err != nil {
			return err
		}
		bookID, n, err := takeNumber(ctx, tx, o.Unit, "out", o.Book, o.Year, o.Secrecy != "thuong", nil, "number")
		if err != nil {
			return err
		}
		o.Number, o.Reference = n, fmt.Sprintf("%d/%s", n, suffix)
		if err := insertOutgoing(ctx, tx, o, bookID); err != nil {
			return err
		}
		delta := newAggDelta()
		delta.addOutgoing(o, 1)
		if err := delta.apply(ctx, tx); err != nil {
			return err
		}
		return s.publish(ctx, tx, map[string]string{o.Unit: o.Province})
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// documentCommune resolves the commune a document belongs to: a missing
// code is a 400, an unknown or former commune a 422, both naming "unit".
func (s *Service) documentCommune(code string) (unitInfo, error) {
	unit, ok := s.units.commune(code)
	if !ok {
		if code == "" {
			return unitInfo{}, hub.FieldError("unit", "is required: the 5-digit commune code")
		}
		return unitInfo{}, unprocessable("unit", "no current commune %q", code)
	}
	return unit, nil
}
