-- Which certificate-expiry warnings were given (30, 7 and 1 day before an
-- IdP signing certificate expires): the primary key makes each warning
-- happen once, whichever instance notices first.
CREATE TABLE certificate_warnings (
    integration_id  TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    fingerprint     TEXT NOT NULL,
    threshold_days  BIGINT NOT NULL,
    warned_at       BIGINT NOT NULL,
    PRIMARY KEY (integration_id, fingerprint, threshold_days)
);
