-- The (integration, externalId) index on SCIM users served no query: an
-- externalId filter is evaluated by the gateway over the integration's
-- users, and every keyed read goes by id or userName. It cost a write per
-- user, and on PostgreSQL it was worse than useless: a prepared userName
-- lookup planned while the table was still nearly empty (the first minute
-- of a new deployment's initial sync, before any autoanalyze) tied it with
-- the userName index and kept it, walking the integration's every user on
-- each lookup (3.7 ms at 20,000 users, 137 M index entries read in one
-- 20,000-user sync). Portable SQL, as every migration here.
DROP INDEX scim_users_external;
