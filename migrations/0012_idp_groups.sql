-- IdP groups → teams and roles. Portable SQL, as every migration here.
--
-- A team's idp_groups: the group names or object ids (Entra GUIDs) whose
-- members a sign-in puts into the team. group_key is lower(idp_group):
-- names match case-insensitively, and GUIDs are hexadecimal, so lowering
-- them changes no match.
CREATE TABLE team_idp_groups (
    team_id    TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    idp_group  TEXT NOT NULL,
    group_key  TEXT NOT NULL,
    PRIMARY KEY (team_id, group_key)
);

-- 'idp' on a team membership the mapping granted: the only kind the
-- mapping takes away again (NULL: SCIM, JIT, an invitation or an admin).
ALTER TABLE team_members ADD COLUMN source TEXT;
-- Few rows are the mapping's: SCIM's group sync finds them without
-- walking a large team.
CREATE INDEX team_members_by_idp ON team_members (team_id) WHERE source IS NOT NULL;

-- Who chose a member's role: NULL nobody (the default), 'idp' the role
-- mapping (which may change it again), 'admin' a person (never overridden).
ALTER TABLE memberships ADD COLUMN role_source TEXT;
UPDATE memberships SET role_source = 'admin' WHERE role <> 'member';
