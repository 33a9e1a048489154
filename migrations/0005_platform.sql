-- Deployment-wide API keys of the host product (the platform side). A key
-- is kept after revocation (revoked_at set) so `api-key list` still shows it;
-- only its SHA-256 is stored.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);

-- Single-use links that sign a customer's IT admin into /admin for one
-- organization. used_at is set once, by the one request that consumes it.
CREATE TABLE setup_links (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX setup_links_by_org ON setup_links (org_id);
-- Organizations are listed oldest first, page by page.
CREATE INDEX organizations_by_age ON organizations (created_at, id);
