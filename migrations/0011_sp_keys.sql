-- The SAML service provider's own key pairs: one line of generations per
-- purpose ('signing' for AuthnRequests and LogoutResponses, 'encryption'
-- for the assertions IdPs encrypt to us). Written in the SQL SQLite and
-- PostgreSQL share, like every migration.
--
-- Which key is current, next or previous follows from the generations and
-- `active_from`: the highest generation already active is current, a higher
-- one not yet active is next (published, not used), the one just below
-- current is previous. The unique (purpose, generation) is what makes the
-- first start and a rotation safe when several instances try at once: one
-- insert wins and everyone reads the winner back.
CREATE TABLE sp_keys (
    purpose      TEXT NOT NULL,
    generation   BIGINT NOT NULL,
    -- The private key (PKCS#8 PEM), sealed with the secrets key.
    private_key  TEXT NOT NULL,
    -- The self-signed certificate, base64 DER, as SP metadata publishes it.
    certificate  TEXT NOT NULL,
    -- SHA-256 of the certificate's DER, hex.
    fingerprint  TEXT NOT NULL,
    not_after    BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    -- Unix ms from which the key is used (signing, first choice).
    active_from  BIGINT NOT NULL,
    PRIMARY KEY (purpose, generation)
);
