//! The schema of [`PostgresStore`](super::PostgresStore), as embedded migrations.
//!
//! Each migration runs once per database, in version order, inside one transaction that
//! holds an advisory lock (so that replicas starting together do not race), and is
//! recorded in `lexoffice_login_schema_migrations`. Released migrations are never
//! edited: a change of schema is a new entry at the end of [`MIGRATIONS`].
//!
//! The SQL lives here rather than in `.sql` files so that it ships with the crate (the
//! package includes `src/**/*.rs` only).

/// One schema change.
pub(super) struct Migration {
    /// Its number, increasing from 1.
    pub(super) version: i64,
    /// What it does, in a few words (recorded with it).
    pub(super) description: &'static str,
    /// The statements, run as one batch.
    pub(super) sql: &'static str,
}

/// Every migration, oldest first.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "connections and refresh locks",
        sql: r#"
-- One row per connection (an app's login at a provider), keyed by `env/profile`.
CREATE TABLE lexoffice_login_connections (
    connection_id        text        PRIMARY KEY,
    environment          text        NOT NULL,
    profile              text        NOT NULL,
    -- The provider preset's name, else the issuer, else 'unknown'.
    provider             text        NOT NULL,
    tenant               text,
    -- The token set, sealed by the store's KeyProvider (never in clear).
    token_set            bytea       NOT NULL,
    -- active | refresh_failing | login_required | disconnected (text, so that a newer
    -- state does not need a migration to be stored).
    state                text        NOT NULL DEFAULT 'active',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    refresh_failed_since timestamptz,
    -- Why the last refresh failed, in words: never a token.
    last_error           text,
    UNIQUE (environment, profile)
);
CREATE INDEX lexoffice_login_connections_state ON lexoffice_login_connections (state);

-- The refresh lock of each connection: a holder keeps `SELECT ... FOR UPDATE` on its
-- row for the length of a refresh. A row of its own, so that the holder's save (through
-- another pooled connection, committed at once) is never blocked by its own lock.
CREATE TABLE lexoffice_login_refresh_locks (
    connection_id text        PRIMARY KEY,
    created_at    timestamptz NOT NULL DEFAULT now()
);
"#,
    },
    Migration {
        version: 2,
        description: "shared rate budget",
        sql: r#"
-- Per key (a connection), the theoretical arrival time of GCRA; written by one
-- INSERT ... ON CONFLICT per request. UNLOGGED: no write-ahead log per API request; after
-- a crash the table is empty, which only lets one burst through again.
CREATE UNLOGGED TABLE lexoffice_login_rate_budget (
    key text        PRIMARY KEY,
    tat timestamptz NOT NULL
);
"#,
    },
    Migration {
        version: 3,
        description: "pending logins of the web connect flow",
        sql: r#"
-- A login started by GET /connect/{provider}, waiting for its callback on any replica:
-- keyed by the SHA-256 of its state (the state itself is never stored), sealed by the
-- store's key (it holds the PKCE verifier), taken at most once.
CREATE TABLE lexoffice_login_pending (
    state_hash bytea       PRIMARY KEY,
    sealed     bytea       NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX lexoffice_login_pending_expires ON lexoffice_login_pending (expires_at);
"#,
    },
    Migration {
        version: 4,
        description: "browser sessions of the backend-for-frontend",
        sql: r#"
-- A browser session (web::PostgresSessionStore): keyed by the SHA-256 of its id (the id,
-- the cookie's value, is never stored), sealed by the store's key (who logged in and
-- which connection holds the tokens; never a token). Times are the app's clock.
CREATE TABLE lexoffice_login_sessions (
    id_hash    bytea       PRIMARY KEY,
    sealed     bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL
);
CREATE INDEX lexoffice_login_sessions_last_seen ON lexoffice_login_sessions (last_seen);
CREATE INDEX lexoffice_login_sessions_created ON lexoffice_login_sessions (created_at);
"#,
    },
];

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn versions_increase_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.description);
        }
    }
}
