package hub

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Role is what a principal may do. Roles are not ranked: each route lists
// the roles it admits (see the role table in routes_test.go).
type Role string

// The four roles.
const (
	RoleAdmin      Role = "admin"      // everything, including users, tokens and displays
	RoleOfficer    Role = "officer"    // backlog and meetings: writes
	RoleTechnician Role = "technician" // devices: writes
	RoleViewer     Role = "viewer"     // read only
)

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleOfficer, RoleTechnician, RoleViewer:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (accepted: admin, officer, technician, viewer)", s)
}

// Principal is who a request acts as: a logged-in user, an API token, or
// on /ws a guest admitted by a feature (TopicGuards.Admit).
type Principal struct {
	ID      int64  // user id, or token id when Kind is "token"
	Name    string // username or token name
	Role    Role
	Kind    string // "user", "token", or KindGuest (a meeting pass a feature admits through TopicGuards.Admit)
	Session string // hash of the session, for logout (users only)
	// Scope is a user's commune scope: the code of the commune or province
	// they work for, "" for the whole hub (and for tokens). Features that
	// restrict data by commune read it.
	Scope string
}

// Is reports whether the principal has one of roles.
func (p *Principal) Is(roles ...Role) bool {
	for _, r := range roles {
		if p.Role == r {
			return true
		}
	}
	return false
}

// SessionCookie is the name of the session cookie.
const SessionCookie = "communehub_session"

const localsPrincipal = "communehub.principal"

// AuthConfig configures sessions and the login throttle.
type AuthConfig struct {
	SessionTTL   time.Duration // default 12h, renewed on use
	SecureCookie bool          // set the Secure flag (behind HTTPS)
	Throttle     ThrottleConfig
	Now          func() time.Time // the clock of signatures and the throttle; default time.Now
}

// Auth authenticates requests by session cookie, bearer token or
// access_token query parameter, against the users, sessions and api_tokens
// tables. Only hashes of secrets are stored.
type Auth struct {
	pool     *pgxpool.Pool
	cfg      AuthConfig
	log      *slog.Logger
	now      func() time.Time
	throttle *throttle
	pruned   atomic.Int64 // unix nanoseconds of the last prune of used_signatures
}

// NewAuth returns an Auth.
func NewAuth(pool *pgxpool.Pool, cfg AuthConfig, log *slog.Logger) *Auth {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Auth{pool: pool, cfg: cfg, log: log, now: cfg.Now, throttle: newThrottle(cfg.Throttle)}
}

// ErrBadCredentials is returned by Login for an unknown user and a wrong
// password alike.
var ErrBadCredentials = &Error{Code: EUnauthorized, Message: "wrong username or password"}

// ErrAccountDisabled is returned by Login for the right password of a
// disabled account.
var ErrAccountDisabled = &Error{Code: EForbidden, Message: "this account is disabled; ask an administrator to enable it"}

// Reasons a login fails, the reason label of communehub_login_failures_total.
const (
	LoginUnknownUser   = "unknown_user"
	LoginWrongPassword = "wrong_password"
	LoginDisabled      = "disabled"
	LoginLockedAccount = "locked_account" // refused by the throttle, not checked
	LoginLockedIP      = "locked_ip"
	LoginBusy          = "busy" // another attempt for the account was being checked
)

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func newSecret(prefix string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// CreateUser adds a user with an argon2id password hash (the command
// line's way; audited as the command line's).
func (a *Auth) CreateUser(ctx context.Context, username string, role Role, password string) (int64, error) {
	if err := checkUsername(username); err != nil {
		return 0, err
	}
	if err := CheckPasswordPolicy("password", password); err != nil {
		return 0, err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return 0, FieldError("role", "%v", err)
	}
	var id int64
	err := pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO users(username, role, password_hash) VALUES ($1,$2,$3)
			ON CONFLICT (username) DO NOTHING RETURNING id`, username, role, HashPassword(password)).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return Errorf(EConflict, "user %q already exists", username)
		}
		if err != nil {
			return err
		}
		return audit(ctx, tx, CLIActor, AuditUserAdd, id, username, map[string]any{"role": role, "scope": ""})
	})
	return id, err
}

// SetPassword replaces a user's password and ends their sessions (the
// command line's way; audited as the command line's).
func (a *Auth) SetPassword(ctx context.Context, username, password string) error {
	if err := CheckPasswordPolicy("password", password); err != nil {
		return err
	}
	hash := HashPassword(password)
	return pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `UPDATE users SET password_hash=$2 WHERE username=$1 RETURNING id`, username, hash).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return Errorf(ENotFound, "no user %q", username)
		}
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id=$1`, id)
		if err != nil {
			return err
		}
		return audit(ctx, tx, CLIActor, AuditUserReset, id, username, map[string]any{"sessions": tag.RowsAffected()})
	})
}

// SetDisabled disables or enables a user (the command line's way; audited
// as the command line's). A disabled user cannot log in, their sessions
// end (enabling them again does not bring those back), and the API tokens
// they created stop working while they stay disabled. The command line
// may disable the last admin: it is the way back in (users enable).
func (a *Auth) SetDisabled(ctx context.Context, username string, disabled bool) error {
	return pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		var id int64
		var was bool
		err := tx.QueryRow(ctx, `SELECT id, disabled FROM users WHERE username=$1 FOR UPDATE`, username).Scan(&id, &was)
		if errors.Is(err, pgx.ErrNoRows) {
			return Errorf(ENotFound, "no user %q", username)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET disabled=$2 WHERE id=$1`, id, disabled); err != nil {
			return err
		}
		if !disabled {
			if was {
				return audit(ctx, tx, CLIActor, AuditUserEnable, id, username, nil)
			}
			return nil
		}
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id=$1`, id)
		if err != nil || was {
			return err
		}
		return audit(ctx, tx, CLIActor, AuditUserDisable, id, username, map[string]any{"sessions": tag.RowsAffected()})
	})
}

// Login checks a password and opens a session; it returns the cookie value.
func (a *Auth) Login(ctx context.Context, username, password string) (string, *Principal, error) {
	token, p, _, err := a.login(ctx, username, password)
	return token, p, err
}

// login is Login that also says why it failed (one of the Login… reasons).
func (a *Auth) login(ctx context.Context, username, password string) (string, *Principal, string, error) {
	var (
		id       int64
		role     Role
		hash     string
		scope    string
		disabled bool
	)
	err := a.pool.QueryRow(ctx, `SELECT id, role, password_hash, scope, disabled FROM users WHERE username=$1`, username).
		Scan(&id, &role, &hash, &scope, &disabled)
	if errors.Is(err, pgx.ErrNoRows) {
		CheckPassword(dummyHash(), password) // same work for unknown users
		return "", nil, LoginUnknownUser, ErrBadCredentials
	}
	if err != nil {
		return "", nil, "", err
	}
	if !CheckPassword(hash, password) {
		return "", nil, LoginWrongPassword, ErrBadCredentials
	}
	if disabled {
		return "", nil, LoginDisabled, ErrAccountDisabled
	}
	token := newSecret("")
	if _, err := a.pool.Exec(ctx, `INSERT INTO sessions(token_hash, user_id, expires_at) VALUES ($1,$2,$3)`,
		hashSecret(token), id, time.Now().Add(a.cfg.SessionTTL)); err != nil {
		return "", nil, "", err
	}
	return token, &Principal{ID: id, Name: username, Role: role, Scope: scope, Kind: "user", Session: hex.EncodeToString(hashSecret(token))}, "", nil
}

// Logout ends the session with the given cookie value.
func (a *Auth) Logout(ctx context.Context, cookie string) error {
	_, err := a.pool.Exec(ctx, `DELETE FROM sessions WHERE token_hash=$1`, hashSecret(cookie))
	return err
}

// CreateToken creates an API token and returns its id and the token, which
// is shown once and stored only hashed. A non-empty hmacSecret makes an
// X-Signature header mandatory on requests with this token. It is the
// command line's way (audited as the command line's): see CreateTokenBy.
func (a *Auth) CreateToken(ctx context.Context, name string, role Role, hmacSecret string) (int64, string, error) {
	return a.CreateTokenBy(ctx, CLIActor, name, role, hmacSecret)
}

// CreateTokenBy is CreateToken on behalf of by. A token a user creates
// stops working while that user is disabled.
func (a *Auth) CreateTokenBy(ctx context.Context, by Actor, name string, role Role, hmacSecret string) (int64, string, error) {
	if name == "" || len(name) > 100 {
		return 0, "", FieldError("name", "must be 1–100 characters")
	}
	if _, err := ParseRole(string(role)); err != nil {
		return 0, "", FieldError("role", "%v", err)
	}
	token := newSecret("chub_")
	var secret *string
	if hmacSecret != "" {
		secret = &hmacSecret
	}
	var creator *int64
	if by.Kind == "user" {
		creator = &by.ID
	}
	var id int64
	err := pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO api_tokens(name, role, token_hash, hmac_secret, created_by) VALUES ($1,$2,$3,$4,$5) RETURNING id`,
			name, role, hashSecret(token), secret, creator).Scan(&id)
		if err != nil {
			return err
		}
		return audit(ctx, tx, by, AuditTokenCreate, id, name, map[string]any{"role": role, "signed": secret != nil})
	})
	if err != nil {
		return 0, "", err
	}
	return id, token, nil
}

// RevokeToken revokes a token by id (the command line's way).
func (a *Auth) RevokeToken(ctx context.Context, id int64) error {
	return a.RevokeTokenBy(ctx, CLIActor, id)
}

// RevokeTokenBy is RevokeToken on behalf of by.
func (a *Auth) RevokeTokenBy(ctx context.Context, by Actor, id int64) error {
	return pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		var name string
		err := tx.QueryRow(ctx, `UPDATE api_tokens SET revoked_at=now() WHERE id=$1 AND revoked_at IS NULL RETURNING name`, id).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			return Errorf(ENotFound, "no live token %d", id)
		}
		if err != nil {
			return err
		}
		return audit(ctx, tx, by, AuditTokenRevoke, id, name, nil)
	})
}

// TokenInfo describes an API token (never the token itself).
type TokenInfo struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Role      Role       `json:"role"`
	Signed    bool       `json:"signed"`
	CreatedAt time.Time  `json:"created_at"`
	LastUsed  *time.Time `json:"last_used"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// ListTokens lists every API token.
func (a *Auth) ListTokens(ctx context.Context) ([]TokenInfo, error) {
	rows, err := a.pool.Query(ctx, `SELECT id, name, role, hmac_secret IS NOT NULL AS signed, created_at, last_used, revoked_at
		FROM api_tokens ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[TokenInfo])
}

// authenticate resolves a session cookie or bearer token; nil, nil when
// neither is valid. secret is the token's HMAC secret, if any.
func (a *Auth) authenticate(ctx context.Context, cookie, bearer string) (p *Principal, secret string, err error) {
	if bearer != "" {
		var (
			id   int64
			name string
			role Role
			sec  *string
		)
		// A token created by a user who is now disabled matches nothing.
		err := a.pool.QueryRow(ctx, `UPDATE api_tokens t SET last_used=now()
			WHERE t.token_hash=$1 AND t.revoked_at IS NULL
			  AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.created_by AND u.disabled)
			RETURNING t.id, t.name, t.role, t.hmac_secret`, hashSecret(bearer)).
			Scan(&id, &name, &role, &sec)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, "", nil
		}
		if err != nil {
			return nil, "", err
		}
		if sec != nil {
			secret = *sec
		}
		return &Principal{ID: id, Name: name, Role: role, Kind: "token"}, secret, nil
	}
	if cookie != "" {
		var (
			id          int64
			name, scope string
			role        Role
		)
		h := hashSecret(cookie)
		err := a.pool.QueryRow(ctx, `UPDATE sessions s SET last_seen=now(), expires_at=now()+$2::interval
			FROM users u WHERE s.token_hash=$1 AND s.expires_at > now() AND u.id=s.user_id AND NOT u.disabled
			RETURNING u.id, u.username, u.role, u.scope`, h, a.cfg.SessionTTL.String()).Scan(&id, &name, &role, &scope)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, "", nil
		}
		if err != nil {
			return nil, "", err
		}
		return &Principal{ID: id, Name: name, Role: role, Scope: scope, Kind: "user", Session: hex.EncodeToString(h)}, "", nil
	}
	return nil, "", nil
}

// Middleware resolves the principal of a request, if any, and stores it for
// PrincipalOf. It rejects nothing by itself except a signed token's request
// whose signature is missing, wrong, stale or replayed (401, see
// checkSignature); RequireRole does the rest, and says whether credentials
// were missing or were sent and refused.
func (a *Auth) Middleware() fiber.Handler {
	return func(c *fiber.Ctx) error {
		bearer, from := "", fiber.HeaderAuthorization
		if h := c.Get(fiber.HeaderAuthorization); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			bearer = strings.TrimSpace(h[7:])
		} else if q := c.Query("access_token"); q != "" {
			bearer, from = q, "access_token"
		}
		cookie := c.Cookies(SessionCookie)
		if bearer == "" && cookie == "" {
			return c.Next()
		}
		p, secret, err := a.authenticate(c.UserContext(), cookie, bearer)
		if err != nil {
			return Errorf(EUnavailable, "cannot check credentials: database unavailable")
		}
		if p != nil && secret != "" {
			uri := c.Request().URI()
			if err := a.checkSignature(c.UserContext(), secret, signedRequest{
				method: c.Method(), path: string(uri.PathOriginal()), query: string(uri.QueryString()),
				sig: c.Get("X-Signature"), ts: c.Get("X-Timestamp"), body: c.Body(),
			}); err != nil {
				a.log.Warn("signed request refused", "token", p.Name, "method", c.Method(), "path", c.Path(), "err", err)
				return err
			}
		}
		switch {
		case p != nil:
			c.Locals(localsPrincipal, p)
			// Copied: fiber's strings point into the request's buffer, which
			// the next request reuses, and a socket keeps this for its life.
			c.Locals(localsCredential, credential{cookie: strings.Clone(cookie), bearer: strings.Clone(bearer)})
		case bearer != "":
			c.Locals(localsRefused, from)
		default:
			c.Locals(localsRefused, SessionCookie)
		}
		return c.Next()
	}
}

// localsCredential holds the credential a request's principal came from,
// for a long-lived socket to check again (Auth.stillValid).
const localsCredential = "communehub.credential"

// credential is a session cookie or a bearer token, as a request sent it.
type credential struct{ cookie, bearer string }

// stillValid reports whether cred still names a principal: the session
// not ended or expired, the token not revoked, their user not disabled. An
// error (the database) is not a no.
func (a *Auth) stillValid(ctx context.Context, cred credential) (bool, error) {
	p, _, err := a.authenticate(ctx, cred.cookie, cred.bearer)
	return p != nil, err
}

// localsRefused names where credentials were sent that matched nothing
// (Authorization, access_token or the session cookie), for RequireRole.
const localsRefused = "communehub.refused"

// PrincipalOf returns the request's principal, or nil.
func PrincipalOf(c *fiber.Ctx) *Principal {
	p, _ := c.Locals(localsPrincipal).(*Principal)
	return p
}

// RequireRole admits authenticated principals with one of roles (any role
// when none are given): 401 without credentials, 403 with the wrong role.
func RequireRole(roles ...Role) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := PrincipalOf(c)
		if p == nil {
			switch f, _ := c.Locals(localsRefused).(string); f {
			case "":
			case SessionCookie:
				return &Error{Code: EUnauthorized, Field: f, Message: "session expired or ended: log in again"}
			default:
				return &Error{Code: EUnauthorized, Field: f, Message: "invalid or revoked token"}
			}
			return Errorf(EUnauthorized, "authentication required: log in or send Authorization: Bearer <token>")
		}
		if len(roles) > 0 && !p.Is(roles...) {
			return Errorf(EForbidden, "role %s may not do this (needs one of %s)", p.Role, joinRoles(roles))
		}
		return c.Next()
	}
}

func joinRoles(roles []Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}
