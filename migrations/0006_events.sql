-- Lifecycle events: the transactional outbox. A row is written in the same
-- transaction as the change it describes (no event without its change, no
-- change without its event).
--
-- Ids come from `event_sequence`, not from an auto-increment: the counter's
-- row lock is taken by the UPDATE that allocates ids and held until commit,
-- so transactions that emit events commit in id order and a reader paging
-- by id can never skip an event that commits late with a lower id (which a
-- PostgreSQL sequence would allow). Events are written last, just before
-- commit, to hold that lock briefly.
CREATE TABLE event_sequence (
    singleton  BIGINT PRIMARY KEY CHECK (singleton = 1),
    last_id    BIGINT NOT NULL
);
INSERT INTO event_sequence (singleton, last_id) VALUES (1, 0);

CREATE TABLE events (
    id           BIGINT PRIMARY KEY,
    org_id       TEXT NOT NULL,
    type         TEXT NOT NULL,
    occurred_at  BIGINT NOT NULL,
    -- The `data` object exactly as served and signed.
    data         TEXT NOT NULL
);
CREATE INDEX events_by_org ON events (org_id, id);
CREATE INDEX events_by_time ON events (occurred_at);

-- How each member came in (member events carry it): SCIM-managed memberships
-- came from SCIM, the rest (until invitations) from a sign-in.
ALTER TABLE memberships ADD COLUMN source TEXT NOT NULL DEFAULT 'jit';
UPDATE memberships SET source = 'scim' WHERE scim_managed = 1;
