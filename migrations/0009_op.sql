-- The gateway as an OpenID Provider: the product's apps (clients) and the
-- RS256 keys ID tokens are signed with.

-- A client's secret is stored as its SHA-256 only; a public client (a
-- single-page or native app) has none and must use PKCE S256. The URI lists
-- are JSON arrays, matched exactly.
CREATE TABLE op_clients (
    id                         TEXT PRIMARY KEY,
    name                       TEXT NOT NULL,
    secret_hash                TEXT,
    redirect_uris              TEXT NOT NULL,
    post_logout_redirect_uris  TEXT NOT NULL,
    created_at                 BIGINT NOT NULL
);
CREATE INDEX op_clients_by_age ON op_clients (created_at, id);

-- Signing keys, one per generation: the highest generation signs, older
-- ones stay published until the tokens they signed have expired. The
-- unique generation is what makes "create the first key" and "rotate"
-- safe when several instances try at once: only one insert wins.
CREATE TABLE op_signing_keys (
    generation   BIGINT PRIMARY KEY,
    kid          TEXT NOT NULL UNIQUE,
    -- The private key (PKCS#8 PEM), sealed with the secrets key.
    private_key  TEXT NOT NULL,
    -- The public half as a JWK, as /oauth2/jwks serves it.
    public_jwk   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
