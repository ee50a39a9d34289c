package meetings

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"codeberg.org/go-pdf/fpdf"
)

// DejaVu Sans covers Vietnamese (U+1EA0–U+1EF9 and the rest); the Go fonts
// do not. Licence: fonts/LICENSE.
var (
	//go:embed fonts/DejaVuSans.ttf
	fontRegular []byte
	//go:embed fonts/DejaVuSans-Bold.ttf
	fontBold []byte
)

// MinutesPDFName is the file name of the signed JSON inside a PDF export.
func MinutesPDFName(meeting int64) string { return fmt.Sprintf("bien-ban-%d.json", meeting) }

// twoColumns is a line of the biên bản's header or signature block: two
// texts apart ("ỦY BAN NHÂN DÂN        CỘNG HÒA XÃ HỘI…").
var twoColumns = regexp.MustCompile(`^(\S.*?)\s{3,}(\S.*)$`)

// RenderMinutesPDF renders signed minutes as an A4 PDF: a box naming the
// meeting, the approval, the key's fingerprint and the result v of
// verifying the minutes, then the text; the document as served (JSON) is
// embedded as a file attachment, which is what a verifier checks. The
// output depends only on m and v, so a verifier can render the embedded
// record again and compare.
func RenderMinutesPDF(m *SignedMinutes, v Verification) ([]byte, error) {
	doc, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return renderMinutesPDF(m, v, doc)
}

// renderMinutesPDF renders m with doc as the embedded file.
func renderMinutesPDF(m *SignedMinutes, v Verification, doc []byte) ([]byte, error) {
	at, _ := time.Parse(time.RFC3339Nano, m.ApprovedAt)
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCompression(true)
	pdf.SetCatalogSort(true)
	pdf.SetCreationDate(at)
	pdf.SetModificationDate(at)
	pdf.SetProducer("CommuneHub", true)
	pdf.SetCreator("CommuneHub", true)
	pdf.SetTitle("Biên bản họp: "+m.Title, true)
	pdf.SetAuthor(unitBody(m), true)
	pdf.SetLang("vi-VN")
	pdf.AddUTF8FontFromBytes("DejaVu", "", fontRegular)
	pdf.AddUTF8FontFromBytes("DejaVu", "B", fontBold)
	pdf.SetAttachments([]fpdf.Attachment{{Content: doc, Filename: MinutesPDFName(m.Meeting),
		Description: "Biên bản có chữ ký số (" + m.Format + ")"}})
	pdf.SetMargins(18, 16, 18)
	pdf.SetAutoPageBreak(true, 18)
	pdf.AliasNbPages("{nb}")
	pdf.SetFooterFunc(func() {
		pdf.SetY(-13)
		pdf.SetFont("DejaVu", "", 7.5)
		pdf.SetTextColor(90, 90, 90)
		pdf.CellFormat(0, 5, fmt.Sprintf("Biên bản cuộc họp số %d, phiên bản %d — khóa ký %s — trang %d/{nb}",
			m.Meeting, m.Revision, m.KeyID, pdf.PageNo()), "", 0, "C", false, 0, "")
	})
	pdf.AddPage()
	renderSignatureBox(pdf, m, v)
	renderMinutesText(pdf, m.Text)
	var out bytes.Buffer
	if err := pdf.Output(&out); err != nil {
		return nil, fmt.Errorf("render minutes PDF: %w", err)
	}
	return out.Bytes(), nil
}

// unitBody names the issuing body: "Ủy ban nhân dân xã Sáng Nhè".
func unitBody(m *SignedMinutes) string {
	name := m.UnitName
	if name == "" {
		return "Ủy ban nhân dân (mã đơn vị " + m.Unit + ")"
	}
	r := []rune(name)
	r[0] = unicode.ToLower(r[0])
	return "Ủy ban nhân dân " + string(r)
}

func viTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return clock(t) + " ngày " + date(t)
}

// renderSignatureBox writes what the signature vouches for and how to check it.
func renderSignatureBox(pdf *fpdf.Fpdf, m *SignedMinutes, v Verification) {
	pdf.SetFont("DejaVu", "B", 15)
	pdf.CellFormat(0, 8, "Biên bản họp", "", 1, "L", false, 0, "")
	pdf.SetFont("DejaVu", "", 11)
	pdf.MultiCell(0, 5.5, unitBody(m), "", "L", false)
	pdf.SetFont("DejaVu", "B", 11)
	pdf.MultiCell(0, 5.5, fmt.Sprintf("Cuộc họp số %d: %s", m.Meeting, m.Title), "", "L", false)
	pdf.Ln(1.5)

	rows := [][2]string{}
	if m.OpenedAt != "" {
		when := "từ " + viTime(m.OpenedAt)
		if m.ClosedAt != "" {
			when += " đến " + viTime(m.ClosedAt)
		}
		rows = append(rows, [2]string{"Thời gian họp", when})
	} else if m.StartsAt != "" {
		rows = append(rows, [2]string{"Thời gian họp", "dự kiến " + viTime(m.StartsAt)})
	}
	rows = append(rows,
		[2]string{"Phê duyệt", fmt.Sprintf("%s, lúc %s (phiên bản %d)", m.ApprovedBy, viTime(m.ApprovedAt), m.Revision)},
		[2]string{"Chữ ký số", "Ed25519, khóa " + m.KeyID},
		[2]string{"Vân tay khóa", groupHex(v.Fingerprint)},
		[2]string{"SHA-256 nội dung", groupHex(m.SHA256)},
	)
	status := "KHÔNG HỢP LỆ: " + v.Reason
	if v.Valid && v.Covers == CoversWholeRecord {
		status = "HỢP LỆ — chữ ký bao trùm toàn bộ biên bản (" + m.Format + "): số cuộc họp, đơn vị, tiêu đề, " +
			"thời gian, người và thời điểm phê duyệt, phiên bản, nội dung, khóa ký."
	} else if v.Valid {
		status = "HỢP LỆ, CHỈ NỘI DUNG — chữ ký (" + m.Format + ") chỉ bao trùm nội dung văn bản; số cuộc họp, " +
			"đơn vị, tiêu đề, người và thời điểm phê duyệt, phiên bản không được ký."
	}
	rows = append(rows, [2]string{"Kiểm tra chữ ký", status},
		[2]string{"Bản gốc", "tệp " + MinutesPDFName(m.Meeting) + " đính kèm trong PDF này là bản có chữ ký; " +
			"các trang là bản trình bày của nó. Kiểm tra: communehub minutes verify <tệp PDF> hoặc POST /api/v1/minutes/verify."})

	x0, y0 := pdf.GetXY()
	w, _ := pdf.GetPageSize()
	lm, _, rm, _ := pdf.GetMargins()
	labelW := 34.0
	pdf.SetFillColor(244, 246, 248)
	pdf.SetY(y0 + 2)
	for _, r := range rows {
		pdf.SetX(x0 + 3)
		y := pdf.GetY()
		pdf.SetFont("DejaVu", "B", 8.5)
		pdf.CellFormat(labelW, 4.6, r[0], "", 0, "L", false, 0, "")
		pdf.SetFont("DejaVu", "", 8.5)
		if r[0] == "Kiểm tra chữ ký" {
			if v.Valid {
				pdf.SetTextColor(0, 100, 30)
			} else {
				pdf.SetTextColor(170, 0, 0)
			}
		}
		pdf.SetXY(x0+3+labelW, y)
		pdf.MultiCell(w-lm-rm-labelW-6, 4.6, r[1], "", "L", false)
		pdf.SetTextColor(0, 0, 0)
	}
	y1 := pdf.GetY() + 2
	pdf.SetDrawColor(150, 160, 170)
	pdf.Rect(x0, y0, w-lm-rm, y1-y0, "D")
	pdf.SetY(y1 + 6)
}

func groupHex(h string) string {
	var b strings.Builder
	for i := 0; i < len(h); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(h[i:min(i+4, len(h))])
	}
	return b.String()
}

// renderMinutesText lays out the biên bản: the two-column header and
// signature lines side by side, the title centred, headings in bold, the
// rest as written, wrapped, its indentation kept.
func renderMinutesText(pdf *fpdf.Fpdf, text string) {
	w, _ := pdf.GetPageSize()
	lm, _, rm, _ := pdf.GetMargins()
	width := w - lm - rm
	const size, lh = 10.0, 5.0
	title := 0 // 1 after "BIÊN BẢN": the next line is the meeting's title
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		trimmed := strings.TrimLeft(line, " ")
		indent := float64(len(line)-len(trimmed)) * 1.4
		switch {
		case trimmed == "":
			pdf.Ln(lh * 0.6)
		case title == 0 && trimmed == "BIÊN BẢN":
			pdf.SetFont("DejaVu", "B", 13)
			pdf.CellFormat(0, 7, trimmed, "", 1, "C", false, 0, "")
			title = 1
		case title == 1:
			pdf.SetFont("DejaVu", "B", size+1)
			pdf.MultiCell(0, lh+0.5, trimmed, "", "C", false)
			title = 2
		case twoColumns.MatchString(line):
			p := twoColumns.FindStringSubmatch(line)
			style := ""
			if isUpper(p[1]) {
				style = "B"
			}
			pdf.SetFont("DejaVu", style, size-0.5)
			pdf.CellFormat(width*0.42, lh, p[1], "", 0, "C", false, 0, "")
			style = ""
			if isUpper(p[2]) {
				style = "B"
			}
			pdf.SetFont("DejaVu", style, size-0.5)
			pdf.CellFormat(width*0.58, lh, p[2], "", 1, "C", false, 0, "")
		default:
			style := ""
			if isUpper(trimmed) {
				style = "B"
			}
			pdf.SetFont("DejaVu", style, size)
			pdf.SetX(lm + indent)
			pdf.MultiCell(width-indent, lh, trimmed, "", "L", false)
		}
	}
}

// isUpper reports a heading: letters, all capitals.
func isUpper(s string) bool {
	letters := false
	for _, r := range s {
		if unicode.IsLetter(r) {
			letters = true
			if !unicode.IsUpper(r) {
				return false
			}
		}
	}
	return letters
}
