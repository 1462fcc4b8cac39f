-- API keys of the private port (rpc.auth: keys | both). Only a SHA-256 hash of the secret
-- is kept: the key itself is printed once when it is created. scopes is a comma-separated
-- list (payments:create,payments:read,...). A key is refused after expires_at (when set) and
-- from revoked_at on; rows are never deleted, so a revoked key stays listed.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER
)
