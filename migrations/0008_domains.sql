-- Domains an organization claims, and proves with a DNS TXT record. Routing
-- by email (the sign-in page) and attaching accounts that belong to another
-- organization both need the proof. One organization at most holds a domain
-- verified.
CREATE TABLE org_domains (
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    domain          TEXT NOT NULL,
    -- The value the TXT record must carry (not a secret: it is published).
    challenge       TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    verified_at     BIGINT,
    last_checked_at BIGINT,
    -- Set when a re-check stopped finding the record; the domain keeps
    -- working for the grace period, then loses its verification.
    failing_since   BIGINT,
    PRIMARY KEY (org_id, domain)
);
CREATE UNIQUE INDEX org_domains_verified ON org_domains (domain) WHERE verified_at IS NOT NULL;
CREATE INDEX org_domains_by_domain ON org_domains (domain);

-- Who was a member before: re-provisioning re-attaches them, even when the
-- account now belongs to another organization too (keyed by email, since a
-- deprovisioned account may have been deleted and created anew).
CREATE TABLE former_members (
    org_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email_key  TEXT NOT NULL,
    left_at    BIGINT NOT NULL,
    PRIMARY KEY (org_id, email_key)
);
