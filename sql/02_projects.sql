--
-- Projects and membership: the creator becomes owner, owners manage members,
-- a project always keeps an owner, non-members see nothing.
--
\set ECHO none
\i sql/fixture/setup.sql
\set ECHO all
-- This file builds the fixture's project Tracker step by step: start without it.
DELETE FROM intracker_data.projects WHERE id = (SELECT id FROM regress.names WHERE name = 'tracker');
DELETE FROM regress.names WHERE name = 'tracker';
SET ROLE regress_admin;

-- No identity: functions that act for a user refuse with PT401.
SELECT intracker.current_user_id() IS NULL AS anonymous;
SELECT * FROM regress.try($$SELECT intracker.create_project('Nobody''s')$$);
SELECT count(*) AS projects_seen_anonymously FROM intracker.projects;

SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT name, status, tags, github_repo, resume_context, version
  FROM intracker.create_project('Tracker', 'The tracker itself', 'acme/tracker', '{core}',
                                '{"constraints": ["no app server"]}');
INSERT INTO regress.names SELECT id, 'tracker' FROM intracker.projects WHERE name = 'Tracker';

-- The creator is the owner.
SELECT regress.named(user_id::text) AS member, role FROM intracker.project_members ORDER BY 1;

-- github_repo must be owner/name; a blank name is refused.
SELECT * FROM regress.try($$SELECT intracker.create_project('Bad', github_repo => 'not a repo')$$);
SELECT * FROM regress.try($$SELECT intracker.create_project(' ')$$);
SELECT * FROM regress.try($$SELECT intracker.create_project('Bad', status => 'deleted')$$);

-- INSERT through the view (PostgREST POST /projects) goes through create_project.
INSERT INTO intracker.projects (name, description) VALUES ('Website', 'Marketing site')
RETURNING name, description, status, version, regress.named(created_by::text) AS created_by;
INSERT INTO regress.names SELECT id, 'website' FROM intracker.projects WHERE name = 'Website';
SELECT * FROM regress.try($$INSERT INTO intracker.projects (id, name) VALUES (gen_random_uuid(), 'X')$$);

-- Membership: owners add members with a role, or change a member's role.
SELECT regress.named(user_id::text) AS member, role
  FROM intracker.add_member((SELECT id FROM regress.names WHERE name = 'tracker'), '00000000-0000-0000-0000-00000000000b', 'viewer');
SELECT regress.named(user_id::text) AS member, role
  FROM intracker.add_member((SELECT id FROM regress.names WHERE name = 'tracker'), '00000000-0000-0000-0000-00000000000b', 'editor');
SELECT regress.named(user_id::text) AS member, role
  FROM intracker.add_member((SELECT id FROM regress.names WHERE name = 'tracker'), '00000000-0000-0000-0000-00000000000c', 'viewer');
SELECT * FROM regress.try($$SELECT intracker.add_member((SELECT id FROM regress.names WHERE name = 'tracker'), '00000000-0000-0000-0000-00000000000d', 'boss')$$);
SELECT * FROM regress.try($$SELECT intracker.add_member((SELECT id FROM regress.names WHERE name = 'tracker'), '00000000-0000-0000-0000-0000000000ff', 'viewer')$$);

-- The last owner can be neither removed nor demoted.
SELECT * FROM regress.try($$SELECT intracker.remove_member((SELECT id FROM regress.names WHERE name = 'tracker'), '00000000-0000-0000-0000-00000000000a')$$);
SELECT * FROM regress.try($$SELECT intracker.add_member((SELECT id FROM regress.names WHERE name = 'tracker'), '00000000-0000-0000-0000-00000000000a', 'editor')$$);
SELECT * FROM regress.try($$UPDATE intracker.project_members SET role = 'viewer' WHERE user_id = '00000000-0000-0000-0000-00000000000a' AND project_id = (SELECT id FROM regress.names WHERE name = 'tracker')$$);

-- Editors and viewers cannot manage members; a viewer may leave.
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000b') IS NOT NULL AS acting_as_bot;
SELECT * FROM regress.try($$SELECT intracker.add_member((SELECT id FROM regress.names WHERE name = 'tracker'), '00000000-0000-0000-0000-00000000000d', 'viewer')$$);
SELECT * FROM regress.try($$SELECT intracker.remove_member((SELECT id FROM regress.names WHERE name = 'tracker'), '00000000-0000-0000-0000-00000000000c')$$);
-- Editors edit the project but cannot delete it.
SELECT name, description, version
  FROM intracker.update_project((SELECT id FROM regress.names WHERE name = 'tracker'), '{"description": "Postgres is the product"}', 1);
WITH deleted AS (DELETE FROM intracker.projects WHERE name = 'Tracker' RETURNING 1)
SELECT count(*) AS deleted_by_editor FROM deleted;

SELECT intracker.act_as('00000000-0000-0000-0000-00000000000c') IS NOT NULL AS acting_as_vic;
SELECT * FROM regress.try($$SELECT intracker.update_project((SELECT id FROM regress.names WHERE name = 'tracker'), '{"name": "Mine"}', 2)$$);
SELECT regress.named(user_id::text) AS left_project, role
  FROM intracker.remove_member((SELECT id FROM regress.names WHERE name = 'tracker'), '00000000-0000-0000-0000-00000000000c');
-- Having left, Vic sees nothing of the project, and errors do not reveal it exists.
SELECT count(*) AS projects_vic_sees FROM intracker.projects;
SELECT * FROM regress.try($$SELECT intracker.update_project((SELECT id FROM regress.names WHERE name = 'tracker'), '{"name": "Mine"}', 2)$$);
SELECT * FROM regress.try($$SELECT intracker.update_project('00000000-0000-0000-0000-000000000999', '{"name": "Mine"}', 2)$$);

-- Non-members see nothing of the project or its members (this admin role
-- still sees the user directory: admins provision users).
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000d') IS NOT NULL AS acting_as_outsider;
SELECT (SELECT count(*) FROM intracker.projects) AS projects,
       (SELECT count(*) FROM intracker.project_members) AS members,
       (SELECT count(*) FROM intracker.users) AS users_visible;

-- Ann re-adds Vic as a viewer for the next tests; Ann sees the whole team.
SELECT intracker.act_as('00000000-0000-0000-0000-00000000000a') IS NOT NULL AS acting_as_ann;
SELECT role FROM intracker.add_member((SELECT id FROM regress.names WHERE name = 'tracker'), '00000000-0000-0000-0000-00000000000c', 'viewer');
SELECT name, version, description FROM intracker.projects ORDER BY name;

-- An owner deletes a project; its members go with it.
DELETE FROM intracker.projects WHERE name = 'Website';
SELECT count(*) AS website_members_left FROM intracker_data.project_members
 WHERE project_id = (SELECT id FROM regress.names WHERE name = 'website');

SELECT intracker.act_as(NULL);
RESET ROLE;
