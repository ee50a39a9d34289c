package meetings

// The signing keys' storage: signing_keys, the public half of every
// instance's minutes key.

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Register records the public key in signing_keys so every instance can
// verify what this one signs.
func (s *Signer) Register(ctx context.Context, pool *pgxpool.Pool, instance string) error {
	_, err := pool.Exec(ctx, `INSERT INTO signing_keys(key_id, public_key, instance) VALUES ($1,$2,$3)
		ON CONFLICT (key_id) DO NOTHING`, s.id, []byte(s.pub), instance)
	if err != nil {
		return fmt.Errorf("record signing key: %w", err)
	}
	return nil
}

// KnownKeys returns every public key recorded in signing_keys.
func KnownKeys(ctx context.Context, pool *pgxpool.Pool) (map[string]ed25519.PublicKey, error) {
	rows, err := pool.Query(ctx, `SELECT key_id, public_key FROM signing_keys`)
	if err != nil {
		return nil, err
	}
	type recorded struct {
		ID  string
		Pub []byte
	}
	keys, err := pgx.CollectRows(rows, pgx.RowToStructByPos[recorded])
	if err != nil {
		return nil, err
	}
	out := map[string]ed25519.PublicKey{}
	for _, k := range keys {
		if len(k.Pub) == ed25519.PublicKeySize {
			out[k.ID] = ed25519.PublicKey(k.Pub)
		}
	}
	return out, nil
}
