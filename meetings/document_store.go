package meetings

// The documents' storage: meeting_documents and their versions
// (meeting_document_versions); the content is in the docs store.

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/communehub/communehub/hub"
)

// insertDocument stores a new document and returns its id.
func insertDocument(ctx context.Context, tx pgx.Tx, meetingID int64, item *int64, title string) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO meeting_documents(meeting_id, item_id, title) VALUES ($1,$2,$3) RETURNING id`,
		meetingID, item, title).Scan(&id)
	return id, err
}

// lockDocument reads a meeting's document's item and title and locks its
// row; pgx.ErrNoRows when there is none.
func lockDocument(ctx context.Context, tx pgx.Tx, meetingID, docID int64) (item *int64, title string, err error) {
	err = tx.QueryRow(ctx, `SELECT item_id, title FROM meeting_documents WHERE id=$1 AND meeting_id=$2 FOR UPDATE`,
		docID, meetingID).Scan(&item, &title)
	return item, title, err
}

// insertDocVersion stores the next version of a document and returns its
// number.
func insertDocVersion(ctx context.Context, tx pgx.Tx, docID int64, filename, contentType string, st *stored, uploader *int64, at time.Time) (int, error) {
	var version int
	err := tx.QueryRow(ctx, `INSERT INTO meeting_document_versions(document_id, version, filename, content_type, size, sha256, pages, uploaded_by, uploaded_at)
			SELECT $1, coalesce(max(version),0)+1, $2, $3, $4, $5, $6, $7, $8 FROM meeting_document_versions WHERE document_id=$1
			RETURNING version`, docID, filename, contentType, st.size, st.sum, st.pages, uploader, at).Scan(&version)
	return version, err
}

// itemDocuments counts the documents of an agenda item.
func itemDocuments(ctx context.Context, tx pgx.Tx, itemID int64) (int, error) {
	var n int
	err := tx.QueryRow(ctx, `SELECT count(*) FROM meeting_documents WHERE item_id=$1`, itemID).Scan(&n)
	return n, err
}

func loadDocuments(ctx context.Context, q querier, meetingID, docID int64) ([]*Document, error) {
	rows, err := q.Query(ctx, `SELECT d.id, d.item_id, d.title, v.version, v.filename, v.content_type, v.size, v.sha256, v.pages, v.uploaded_at
		FROM meeting_documents d JOIN meeting_document_versions v ON v.document_id=d.id
		WHERE d.meeting_id=$1 AND ($2=0 OR d.id=$2) ORDER BY d.id, v.version`, meetingID, docID)
	if err != nil {
		return nil, err
	}
	vs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[docVersionRow])
	if err != nil {
		return nil, err
	}
	out := []*Document{}
	for _, r := range vs {
		v := DocVersion{Version: r.Version, Filename: r.Filename, ContentType: r.ContentType, Size: r.Size,
			SHA256: hex.EncodeToString(r.Sum), Pages: r.Pages, UploadedAt: r.UploadedAt, sum: r.Sum}
		if n := len(out); n > 0 && out[n-1].ID == r.ID {
			out[n-1].Versions = append(out[n-1].Versions, v)
			continue
		}
		out = append(out, &Document{ID: r.ID, Meeting: meetingID, Item: r.Item, Title: r.Title, Versions: []DocVersion{v}})
	}
	return out, nil
}

// docVersionRow is one row of loadDocuments: a version with its document.
type docVersionRow struct {
	ID          int64
	Item        *int64
	Title       string
	Version     int
	Filename    string
	ContentType string
	Size        int64
	Sum         []byte
	Pages       *int
	UploadedAt  time.Time
}

// docVersion returns a version of a meeting's document (0: the latest).
func docVersion(ctx context.Context, q querier, meetingID, docID int64, version int) (*DocVersion, error) {
	var v DocVersion
	err := q.QueryRow(ctx, `SELECT v.version, v.filename, v.content_type, v.size, v.sha256, v.pages, v.uploaded_at
		FROM meeting_document_versions v JOIN meeting_documents d ON d.id=v.document_id
		WHERE d.id=$1 AND d.meeting_id=$2 AND ($3=0 OR v.version=$3) ORDER BY v.version DESC LIMIT 1`,
		docID, meetingID, version).Scan(&v.Version, &v.Filename, &v.ContentType, &v.Size, &v.sum, &v.Pages, &v.UploadedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		if version != 0 {
			return nil, hub.Errorf(hub.ENotFound, "no version %d of document %d in meeting %d", version, docID, meetingID)
		}
		return nil, hub.Errorf(hub.ENotFound, "no document %d in meeting %d", docID, meetingID)
	}
	if err != nil {
		return nil, err
	}
	v.SHA256 = hex.EncodeToString(v.sum)
	return &v, nil
}
