-- The integration whose SCIM group push created a team: only that
-- integration sees and changes it through /Groups.
ALTER TABLE teams ADD COLUMN scim_integration_id TEXT;
CREATE INDEX teams_scim_owner ON teams (scim_integration_id);
