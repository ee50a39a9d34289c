package hub

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
)

// Audited actions, the action column of audit_log.
const (
	AuditUserAdd     = "user.add"            // details: role, scope, display_name
	AuditUserDisable = "user.disable"        // details: sessions (how many ended)
	AuditUserEnable  = "user.enable"         //
	AuditUserRole    = "user.role"           // details: from, to
	AuditUserScope   = "user.scope"          // details: from, to
	AuditUserRename  = "user.rename"         // details: from, to (display name)
	AuditUserReset   = "user.password_reset" // details: sessions
	AuditOwnPassword = "user.password_change"
	AuditTokenCreate = "token.create" // details: role, signed
	AuditTokenRevoke = "token.revoke"
)

// Actor is who performs an audited change and from where.
type Actor struct {
	ID   int64  // user or token id; 0 for the command line
	Name string // username, token name or "cli"
	Kind string // "user", "token" or "cli"
	IP   string
}

// CLIActor is the actor of changes made with the communehub command.
var CLIActor = Actor{Name: "cli", Kind: "cli"}

// ActorOf is the request's principal as an audit actor, with the client's
// address.
func ActorOf(c *fiber.Ctx) Actor {
	a := Actor{IP: c.IP()}
	if p := PrincipalOf(c); p != nil {
		a.ID, a.Name, a.Kind = p.ID, p.Name, p.Kind
	}
	return a
}

// AuditEntry is one row of the audit log.
type AuditEntry struct {
	ID        int64          `json:"id"`
	At        time.Time      `json:"at"`
	ActorID   *int64         `json:"actor_id"`
	Actor     string         `json:"actor"`
	ActorKind string         `json:"actor_kind"`
	Action    string         `json:"action"`
	TargetID  *int64         `json:"target_id"`
	Target    string         `json:"target"`
	Details   map[string]any `json:"details"`
	IP        string         `json:"ip"`
}

// audit appends an entry in tx, so that it commits or rolls back with the
// change it records. details must never carry a password or token.
func audit(ctx context.Context, tx pgx.Tx, by Actor, action string, targetID int64, target string, details map[string]any) error {
	var actorID, tid *int64
	if by.ID != 0 {
		actorID = &by.ID
	}
	if targetID != 0 {
		tid = &targetID
	}
	if details == nil {
		details = map[string]any{}
	}
	kind := by.Kind
	if kind == "" {
		kind = "cli"
	}
	name := by.Name
	if name == "" {
		name = kind
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_log(actor_id, actor, actor_kind, action, target_id, target, details, ip)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, actorID, name, kind, action, tid, target, details, by.IP)
	return err
}

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	Before int64 // only entries with a smaller id; 0: from the newest
	UserID int64 // only entries about this user (user.* actions); 0: all
	Limit  int   // 1–500; 0: 100
}

// ListAudit returns audit entries, newest first.
func (a *Auth) ListAudit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	rows, err := a.pool.Query(ctx, `SELECT id, at, actor_id, actor, actor_kind, action, target_id, target, details, ip
		FROM audit_log WHERE ($1 = 0 OR id < $1) AND ($2 = 0 OR target_id = $2 AND action LIKE 'user.%') ORDER BY id DESC LIMIT $3`,
		q.Before, q.UserID, q.Limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[AuditEntry])
}
