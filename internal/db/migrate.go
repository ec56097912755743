package db

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/stipend/stipend/migrations"
)

func (d *DB) migrator() (*goose.Provider, error) {
	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithGoMigrations(appendOnlyMigration(d.dialect)),
	}
	dialect := goose.DialectSQLite3
	if d.dialect == Postgres {
		dialect = goose.DialectPostgres
		// Replicas that start together take turns instead of applying a migration twice.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(dialect, d.write, fs.FS(migrations.FS), opts...)
}

// Migration is one applied migration.
type Migration struct {
	Version int64
	Name    string
}

// Migrate applies every pending migration and returns those it applied.
func (d *DB) Migrate(ctx context.Context) ([]Migration, error) {
	p, err := d.migrator()
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("applying migrations: %w", err)
	}
	applied := make([]Migration, 0, len(results))
	for _, r := range results {
		applied = append(applied, Migration{Version: r.Source.Version, Name: r.Source.Path})
	}
	return applied, nil
}

// MigrateTo applies the pending migrations up to and including version, for tests of an
// upgrade from an older schema with data in it.
func (d *DB) MigrateTo(ctx context.Context, version int64) error {
	p, err := d.migrator()
	if err != nil {
		return err
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("applying migrations up to %d: %w", version, err)
	}
	return nil
}

// SchemaVersion returns the version the database is at and the newest version this binary
// knows. They differ when migrations are pending.
func (d *DB) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	p, err := d.migrator()
	if err != nil {
		return 0, 0, err
	}
	return p.GetVersions(ctx)
}
