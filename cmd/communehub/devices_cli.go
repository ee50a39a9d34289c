package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/communehub/communehub/devices"
	"github.com/communehub/communehub/hub"
)

const devicesUsage = `usage: communehub devices credentials create --unit CODE [--device ID]
       communehub devices credentials list [--unit CODE]
       communehub devices credentials revoke ID`

// runDevices is `communehub devices credentials …`: logins of the embedded
// MQTT broker, per device or per commune, stored hashed; the password is
// printed once.
func runDevices(ctx context.Context, cfg Config, log *slog.Logger, args []string, _ io.Reader, stdout io.Writer) error {
	if len(args) < 2 || args[0] != "credentials" {
		return &usageError{devicesUsage}
	}
	switch args[1] {
	case "create":
		fs := flag.NewFlagSet("devices credentials create", flag.ContinueOnError)
		unit := fs.String("unit", "", "commune code, e.g. 03244")
		device := fs.String("device", "", "device id (empty: a login for the whole commune)")
		if err := fs.Parse(args[2:]); err != nil {
			return &usageError{err.Error()}
		}
		if *unit == "" {
			return &usageError{"--unit is required\n" + devicesUsage}
		}
		return withPool(ctx, cfg, log, func(pool *pgxpool.Pool) error {
			if err := hub.SeedUnits(ctx, pool); err != nil { // the unit is checked against them
				return err
			}
			c, secret, err := devices.CreateCredential(ctx, pool, *unit, *device)
			if err != nil {
				return err
			}
			scope := "commune " + c.Unit + " (any device)"
			if c.Device != nil {
				scope = "device " + c.Unit + "/" + *c.Device
			}
			fmt.Fprintf(stdout, "credential %d for %s — the password is shown once, store it now:\nusername: %s\npassword: %s\n",
				c.ID, scope, c.Username, secret)
			return nil
		})
	case "list":
		fs := flag.NewFlagSet("devices credentials list", flag.ContinueOnError)
		unit := fs.String("unit", "", "commune code (empty: all)")
		if err := fs.Parse(args[2:]); err != nil {
			return &usageError{err.Error()}
		}
		return withPool(ctx, cfg, log, func(pool *pgxpool.Pool) error {
			list, err := devices.ListCredentials(ctx, pool, *unit)
			if err != nil {
				return err
			}
			for _, c := range list {
				dev, state := "(commune)", "active"
				if c.Device != nil {
					dev = *c.Device
				}
				if c.RevokedAt != nil {
					state = "revoked " + c.RevokedAt.Format("2006-01-02 15:04")
				}
				fmt.Fprintf(stdout, "%d\t%s\t%s\t%s\t%s\n", c.ID, c.Unit, dev, c.Username, state)
			}
			return nil
		})
	case "revoke":
		if len(args) != 3 {
			return &usageError{devicesUsage}
		}
		id, err := strconv.ParseInt(args[2], 10, 64)
		if err != nil {
			return &usageError{"credential id must be a number"}
		}
		return withPool(ctx, cfg, log, func(pool *pgxpool.Pool) error {
			return devices.RevokeCredential(ctx, pool, id)
		})
	}
	return &usageError{devicesUsage}
}
