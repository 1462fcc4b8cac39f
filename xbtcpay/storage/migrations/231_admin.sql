-- The dashboard's users, sessions, failed logins and audit log.
-- password_hash is Argon2id (argon2-cffi's encoded form); a session row is keyed by the
-- SHA-256 hash of the cookie's token, never the token. admin_login_failures holds, per
-- limiter key (user:<name>, ip:<address>), the JSON list of recent failure times.
-- admin_audit is append-only: the application never updates or deletes its rows.
CREATE TABLE admin_users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE TABLE admin_sessions (
    token_hash TEXT PRIMARY KEY,
    user_name  TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    address    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX admin_sessions_user ON admin_sessions (user_name);
CREATE TABLE admin_login_failures (
    key     TEXT PRIMARY KEY,
    times   TEXT NOT NULL,
    last_at INTEGER NOT NULL
);
CREATE TABLE admin_audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    address TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX admin_audit_at ON admin_audit (at)
