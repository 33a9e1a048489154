-- Webhooks: deployment-wide endpoints the lifecycle events are delivered to,
-- and the log of every delivery attempt.
--
-- Each endpoint walks the event stream with its own cursor (the last event
-- id settled: delivered, or failed after the retry window), one event at a
-- time, so delivery is in id order per endpoint. The event at the head that
-- is being retried, its attempt count and first attempt are kept here so a
-- restart resumes the schedule. An instance works an endpoint only while it
-- holds the row's lease (lease_owner until lease_until, taken by a
-- conditional UPDATE and renewed while working), so one instance makes each
-- attempt; a killed instance's lease runs out and another carries on.
CREATE TABLE webhook_endpoints (
    id                          TEXT PRIMARY KEY,
    url                         TEXT NOT NULL,
    -- JSON array of event types; NULL: every type.
    types                       TEXT,
    -- `whsec_…` sealed with the secret key (secrets::SecretBox).
    secret_sealed               TEXT NOT NULL,
    -- The secret before the last rotation, also signed with until it expires.
    previous_secret_sealed      TEXT,
    previous_secret_expires_at  BIGINT,
    -- active | disabled
    state                       TEXT NOT NULL,
    disabled_reason             TEXT,
    cursor                      BIGINT NOT NULL,
    head_event_id               BIGINT,
    head_attempts               BIGINT NOT NULL,
    head_first_attempt_at       BIGINT,
    next_attempt_at             BIGINT NOT NULL,
    lease_owner                 TEXT,
    lease_until                 BIGINT NOT NULL,
    created_at                  BIGINT NOT NULL
);
-- The workers' scan for endpoints that are due.
CREATE INDEX webhook_endpoints_due ON webhook_endpoints (state, next_attempt_at);
CREATE INDEX webhook_endpoints_by_lease ON webhook_endpoints (lease_owner);

-- One row per attempt. Ids are time-ordered UUIDv7, so the log pages newest
-- first by id.
CREATE TABLE webhook_deliveries (
    id             TEXT PRIMARY KEY,
    endpoint_id    TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id       BIGINT NOT NULL,
    attempt        BIGINT NOT NULL,
    started_at     BIGINT NOT NULL,
    -- The HTTP status answered; NULL when none was (timeout, refused …).
    status_code    BIGINT,
    error          TEXT,
    -- The first few KiB of the receiver's answer.
    response_body  TEXT,
    duration_ms    BIGINT NOT NULL,
    next_retry_at  BIGINT,
    -- delivered | retrying | failed | disabled
    outcome        TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);

-- Events queued again for one endpoint (redeliver), delivered before the
-- endpoint's next new event.
CREATE TABLE webhook_redeliveries (
    id            TEXT PRIMARY KEY,
    endpoint_id   TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id      BIGINT NOT NULL,
    requested_at  BIGINT NOT NULL
);
CREATE INDEX webhook_redeliveries_by_endpoint ON webhook_redeliveries (endpoint_id, id);

-- The audit trail of deployment-wide changes (webhooks): audit_events rows
-- belong to one organization (a foreign key), and a webhook belongs to none.
-- Same columns as audit_events, without the organization.
CREATE TABLE platform_audit_events (
    id           TEXT PRIMARY KEY,
    occurred_at  BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    subject      TEXT,
    details      TEXT NOT NULL
);
