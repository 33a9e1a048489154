-- SCIM user resources, one per (integration, userName). The resource is the
-- SCIM JSON document as last written (password never stored in it); the
-- indexed columns serve the filters Okta and Entra actually send.
-- A deactivated user (active = 0) keeps answering until DELETEd, even when
-- deprovisioning removed the account itself (user_id NULL).
CREATE TABLE scim_users (
    id              TEXT PRIMARY KEY,
    integration_id  TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id         TEXT REFERENCES users(id) ON DELETE SET NULL,
    user_name       TEXT NOT NULL,
    user_name_key   TEXT NOT NULL,
    external_id     TEXT,
    active          BIGINT NOT NULL,
    resource        TEXT NOT NULL,
    password_hash   TEXT,
    version         BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX scim_users_name ON scim_users (integration_id, user_name_key);
CREATE INDEX scim_users_external ON scim_users (integration_id, external_id);
CREATE INDEX scim_users_user ON scim_users (user_id);
