-- A SCIM group's members as the client set them (SCIM user ids), kept even
-- for users who are deactivated or have no account yet; the team's actual
-- members (team_members) are the accounts of those that are attached.
CREATE TABLE scim_group_members (
    team_id       TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    scim_user_id  TEXT NOT NULL REFERENCES scim_users(id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, scim_user_id)
);
CREATE INDEX scim_group_members_by_user ON scim_group_members (scim_user_id);
