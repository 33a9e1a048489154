-- Portable SQL: this one migration set runs on SQLite and PostgreSQL alike.
-- Ids are TEXT (UUIDs; audit ids are time-ordered UUIDv7), times are BIGINT
-- unix milliseconds, flags are BIGINT 0/1 (sqlx's Any driver cannot decode
-- SQLite booleans), JSON documents are TEXT.

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- A global account, keyed by email case-insensitively (email_key = lower(email)).
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL UNIQUE,
    given_name    TEXT,
    family_name   TEXT,
    display_name  TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE memberships (
    org_id        TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    scim_managed  BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);

CREATE TABLE teams (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    name_key          TEXT NOT NULL,
    scim_id           TEXT,
    scim_external_id  TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    deleted_at        BIGINT
);
-- Names are unique among an organization's live teams; deleted ones keep theirs
-- until restored or purged.
CREATE UNIQUE INDEX teams_live_name ON teams (org_id, name_key) WHERE deleted_at IS NULL;
CREATE INDEX teams_deleted ON teams (deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE team_domains (
    team_id  TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    domain   TEXT NOT NULL,
    PRIMARY KEY (team_id, domain)
);
CREATE INDEX team_domains_by_domain ON team_domains (domain);

CREATE TABLE team_members (
    team_id  TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_by_user ON team_members (user_id);

CREATE TABLE integrations (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    kind             TEXT NOT NULL CHECK (kind IN ('okta', 'entra', 'saml', 'oidc')),
    name             TEXT NOT NULL,
    settings         TEXT NOT NULL,
    scim_token_hash  TEXT,
    scim_enabled_at  BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX integrations_by_org ON integrations (org_id);

CREATE TABLE admin_tokens (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE audit_events (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    occurred_at  BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    actor        TEXT NOT NULL,
    subject      TEXT,
    reason       TEXT,
    details      TEXT NOT NULL
);
CREATE INDEX audit_by_org ON audit_events (org_id, id);
