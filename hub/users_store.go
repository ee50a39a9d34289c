package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// UserInfo describes a user account (never its password hash).
type UserInfo struct {
	ID          int64      `json:"id"`
	Username    string     `json:"username"`
	DisplayName string     `json:"display_name"`
	Role        Role       `json:"role"`
	Scope       string     `json:"scope"` // commune or province code; "" for the whole hub
	Disabled    bool       `json:"disabled"`
	CreatedAt   time.Time  `json:"created_at"`
	LastSeen    *time.Time `json:"last_seen"` // the latest use of a live session
	Sessions    int        `json:"sessions"`  // live sessions
}

const userColumns = `u.id, u.username, u.display_name, u.role, u.scope, u.disabled, u.created_at,
	(SELECT max(s.last_seen) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > now()) AS last_seen,
	(SELECT count(*)::int FROM sessions s WHERE s.user_id = u.id AND s.expires_at > now()) AS sessions`

// ListUsers lists every user, by username.
func (a *Auth) ListUsers(ctx context.Context) ([]UserInfo, error) {
	rows, err := a.pool.Query(ctx, `SELECT `+userColumns+` FROM users u ORDER BY u.username`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[UserInfo])
}

// User returns the user with id, or ENotFound.
func (a *Auth) User(ctx context.Context, id int64) (UserInfo, error) {
	return getUser(ctx, a.pool, id)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func getUser(ctx context.Context, q querier, id int64) (UserInfo, error) {
	rows, err := q.Query(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id)
	if err != nil {
		return UserInfo{}, err
	}
	u, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[UserInfo])
	if errors.Is(err, pgx.ErrNoRows) {
		return UserInfo{}, &Error{Code: ENotFound, Field: "id", Message: "no such user"}
	}
	return u, err
}

// NewUser is what an administrator gives to add a user.
type NewUser struct {
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Role        Role   `json:"role"`
	Scope       string `json:"scope"`
}

func checkUsername(username string) error {
	if username == "" || len(username) > 64 || strings.ContainsAny(username, " \t\r\n/") {
		return FieldError("username", "must be 1–64 characters without spaces or slashes")
	}
	return nil
}

func checkDisplayName(name string) error {
	if utf8.RuneCountInString(name) > 100 {
		return FieldError("display_name", "at most 100 characters")
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return FieldError("display_name", "must not contain control characters")
	}
	return nil
}

// checkScope refuses a scope that is no current commune or province.
func checkScope(ctx context.Context, tx pgx.Tx, scope string) error {
	if scope == "" {
		return nil
	}
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM admin_units WHERE code = $1 AND valid_to IS NULL)`, scope).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return &Error{Code: EUnprocessable, Field: "scope", Message: "no current commune or province has code " + scope}
	}
	return nil
}

// passwordAlphabet leaves out look-alikes (0/o, 1/l/i) so that a password
// read off the screen is typed right.
const passwordAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// GeneratePassword returns a new random password, four groups of four
// characters (about 79 bits), shown once to the administrator who makes it.
func GeneratePassword() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	var s strings.Builder
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			s.WriteByte('-')
		}
		s.WriteByte(passwordAlphabet[int(c)%len(passwordAlphabet)])
	}
	return s.String()
}

// AddUser adds a user with a generated password, which it returns: it is
// shown once and stored only hashed.
func (a *Auth) AddUser(ctx context.Context, by Actor, in NewUser) (UserInfo, string, error) {
	if err := checkUsername(in.Username); err != nil {
		return UserInfo{}, "", err
	}
	if err := checkDisplayName(in.DisplayName); err != nil {
		return UserInfo{}, "", err
	}
	if _, err := ParseRole(string(in.Role)); err != nil {
		return UserInfo{}, "", FieldError("role", "%v", err)
	}
	password := GeneratePassword()
	hash := HashPassword(password)
	var u UserInfo
	err := pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		if err := checkScope(ctx, tx, in.Scope); err != nil {
			return err
		}
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO users(username, display_name, role, scope, password_hash) VALUES ($1,$2,$3,$4,$5)
			ON CONFLICT (username) DO NOTHING RETURNING id`, in.Username, in.DisplayName, in.Role, in.Scope, hash).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return &Error{Code: EConflict, Field: "username", Message: "a user " + in.Username + " already exists"}
		}
		if err != nil {
			return err
		}
		if err := audit(ctx, tx, by, AuditUserAdd, id, in.Username, map[string]any{
			"role": in.Role, "scope": in.Scope, "display_name": in.DisplayName}); err != nil {
			return err
		}
		u, err = getUser(ctx, tx, id)
		return err
	})
	if err != nil {
		return UserInfo{}, "", err
	}
	return u, password, nil
}

// UserChange is an administrator's edit of a user; nil fields stay as they are.
type UserChange struct {
	DisplayName *string `json:"display_name"`
	Role        *Role   `json:"role"`
	Scope       *string `json:"scope"`
	Disabled    *bool   `json:"disabled"`
}

// ErrLastAdmin refuses a change that would leave no active administrator.
func errLastAdmin(field string) error {
	return &Error{Code: EConflict, Field: field,
		Message: "this is the last active administrator: make another user admin first"}
}

// UpdateUser applies ch to user id, each changed field audited as its own
// action. Disabling ends the user's sessions, and the API tokens they
// created stop working while they stay disabled (authenticate checks it).
// Disabling or demoting the last active admin is refused with EConflict.
func (a *Auth) UpdateUser(ctx context.Context, by Actor, id int64, ch UserChange) (UserInfo, error) {
	if ch.DisplayName != nil {
		if err := checkDisplayName(*ch.DisplayName); err != nil {
			return UserInfo{}, err
		}
	}
	if ch.Role != nil {
		if _, err := ParseRole(string(*ch.Role)); err != nil {
			return UserInfo{}, FieldError("role", "%v", err)
		}
	}
	var u UserInfo
	err := pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		removesAdmin := ch.Role != nil && *ch.Role != RoleAdmin || ch.Disabled != nil && *ch.Disabled
		var admins []int64
		if removesAdmin {
			// Lock the active admins first, always in id order, so that two
			// admins demoting each other at once are serialised, not both
			// admitted (and cannot deadlock).
			rows, err := tx.Query(ctx, `SELECT id FROM users WHERE role = 'admin' AND NOT disabled ORDER BY id FOR UPDATE`)
			if err != nil {
				return err
			}
			if admins, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
				return err
			}
		}
		var (
			name, display, scope string
			role                 Role
			disabled             bool
		)
		err := tx.QueryRow(ctx, `SELECT username, display_name, role, scope, disabled FROM users WHERE id = $1 FOR UPDATE`, id).
			Scan(&name, &display, &role, &scope, &disabled)
		if errors.Is(err, pgx.ErrNoRows) {
			return &Error{Code: ENotFound, Field: "id", Message: "no such user"}
		}
		if err != nil {
			return err
		}
		if role == RoleAdmin && !disabled && len(admins) <= 1 {
			if ch.Disabled != nil && *ch.Disabled {
				return errLastAdmin("disabled")
			}
			if ch.Role != nil && *ch.Role != RoleAdmin {
				return errLastAdmin("role")
			}
		}
		if ch.Scope != nil && *ch.Scope != scope {
			if err := checkScope(ctx, tx, *ch.Scope); err != nil {
				return err
			}
		}
		change := func(action string, details map[string]any, sql string, args ...any) error {
			if _, err := tx.Exec(ctx, sql, append([]any{id}, args...)...); err != nil {
				return err
			}
			return audit(ctx, tx, by, action, id, name, details)
		}
		if ch.DisplayName != nil && *ch.DisplayName != display {
			if err := change(AuditUserRename, map[string]any{"from": display, "to": *ch.DisplayName},
				`UPDATE users SET display_name = $2 WHERE id = $1`, *ch.DisplayName); err != nil {
				return err
			}
		}
		if ch.Role != nil && *ch.Role != role {
			if err := change(AuditUserRole, map[string]any{"from": role, "to": *ch.Role},
				`UPDATE users SET role = $2 WHERE id = $1`, *ch.Role); err != nil {
				return err
			}
		}
		if ch.Scope != nil && *ch.Scope != scope {
			if err := change(AuditUserScope, map[string]any{"from": scope, "to": *ch.Scope},
				`UPDATE users SET scope = $2 WHERE id = $1`, *ch.Scope); err != nil {
				return err
			}
		}
		if ch.Disabled != nil && *ch.Disabled != disabled {
			if *ch.Disabled {
				tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id)
				if err != nil {
					return err
				}
				if err := change(AuditUserDisable, map[string]any{"sessions": tag.RowsAffected()},
					`UPDATE users SET disabled = true WHERE id = $1`); err != nil {
					return err
				}
			} else if err := change(AuditUserEnable, nil, `UPDATE users SET disabled = false WHERE id = $1`); err != nil {
				return err
			}
		}
		u, err = getUser(ctx, tx, id)
		return err
	})
	return u, err
}

// ResetPassword gives user id a new generated password, which it returns
// (shown once), and ends their sessions.
func (a *Auth) ResetPassword(ctx context.Context, by Actor, id int64) (string, error) {
	password := GeneratePassword()
	hash := HashPassword(password)
	err := pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		var name string
		err := tx.QueryRow(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1 RETURNING username`, id, hash).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			return &Error{Code: ENotFound, Field: "id", Message: "no such user"}
		}
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id)
		if err != nil {
			return err
		}
		return audit(ctx, tx, by, AuditUserReset, id, name, map[string]any{"sessions": tag.RowsAffected()})
	})
	if err != nil {
		return "", err
	}
	return password, nil
}

// ChangeOwnPassword sets the password of the logged-in user p after
// checking their current one, behind the login throttle (a wrong current
// password counts as a failed login of the account). The user's other
// sessions end; the one making the change stays.
func (a *Auth) ChangeOwnPassword(ctx context.Context, by Actor, p *Principal, current, next string) error {
	if p == nil || p.Kind != "user" {
		return Errorf(EForbidden, "only a logged-in user has a password to change (an API token has none)")
	}
	if current == "" {
		return FieldError("current", "is required")
	}
	if err := CheckPasswordPolicy("new", next); err != nil {
		return err
	}
	if next == current {
		return FieldError("new", "must differ from the current password")
	}
	if scope, wait := a.throttle.begin(p.Name, by.IP, a.now()); scope != "" {
		secs := int(math.Ceil(wait.Seconds()))
		return &Error{Code: ETooMany, Field: "current", Message: "too many wrong passwords; try again later",
			Details: map[string]any{"scope": scope, "retry_after": secs}}
	}
	var hash string
	if err := a.pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, p.ID).Scan(&hash); err != nil {
		a.throttle.abort(p.Name)
		return err
	}
	ok := CheckPassword(hash, current)
	a.throttle.end(p.Name, by.IP, ok, a.now())
	if !ok {
		return &Error{Code: EForbidden, Field: "current", Message: "the current password is wrong"}
	}
	session, _ := hex.DecodeString(p.Session)
	newHash := HashPassword(next)
	return pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, p.ID, newHash); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2`, p.ID, session)
		if err != nil {
			return err
		}
		return audit(ctx, tx, by, AuditOwnPassword, p.ID, p.Name, map[string]any{"other_sessions": tag.RowsAffected()})
	})
}
