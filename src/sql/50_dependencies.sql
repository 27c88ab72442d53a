-- Dependencies between todos: a todo is blocked by others of its project,
-- cannot start or finish while one of them is open, and no cycle may form.
-- The counters they move (open blockers and dependents, for claim order)
-- are kept in 70_assignment.sql.

-- "todo_id is blocked by blocked_by".  Both todos are in project_id (the
-- composite keys enforce it); cycles are rejected by a trigger.
CREATE TABLE intracker_data.todo_dependencies (
    todo_id         uuid NOT NULL,
    blocked_by      uuid NOT NULL,
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    created_by      uuid REFERENCES intracker_data.users (id) DEFAULT intracker.current_user_id(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (todo_id, blocked_by),
    CONSTRAINT todo_dependencies_not_self CHECK (todo_id <> blocked_by),
    CONSTRAINT todo_dependencies_todo_same_project FOREIGN KEY (todo_id, project_id)
        REFERENCES intracker_data.todos (id, project_id) ON DELETE CASCADE,
    CONSTRAINT todo_dependencies_blocker_same_project FOREIGN KEY (blocked_by, project_id)
        REFERENCES intracker_data.todos (id, project_id) ON DELETE CASCADE
);
CREATE INDEX todo_dependencies_blocked_by_idx ON intracker_data.todo_dependencies (blocked_by, project_id);
CREATE INDEX todo_dependencies_project_id_idx ON intracker_data.todo_dependencies (project_id);
CREATE INDEX todo_dependencies_todo_project_idx ON intracker_data.todo_dependencies (todo_id, project_id);
CREATE INDEX todo_dependencies_created_by_idx ON intracker_data.todo_dependencies (created_by);

COMMENT ON CONSTRAINT todo_dependencies_not_self ON intracker_data.todo_dependencies IS 'blocked_by must be another todo: a todo cannot block itself.';
COMMENT ON CONSTRAINT todo_dependencies_todo_same_project ON intracker_data.todo_dependencies IS 'todo_id must be a todo of the project.';
COMMENT ON CONSTRAINT todo_dependencies_blocker_same_project ON intracker_data.todo_dependencies IS 'blocked_by must be a todo of the same project.';

SELECT pg_catalog.pg_extension_config_dump('intracker_data.todo_dependencies', '');

-- The dependency gate: a todo cannot start or finish while one of its
-- blockers is still open.
CREATE FUNCTION intracker_data.todos_blocker_gate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    open_blockers text;
BEGIN
    IF NEW.status NOT IN ('in_progress', 'done') OR NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NEW;
    END IF;
    SELECT string_agg(format('%s "%s" (%s)', b.id, b.title, b.status), ', ' ORDER BY b.created_at, b.id)
      INTO open_blockers
      FROM intracker_data.todo_dependencies d
      JOIN intracker_data.todos b ON b.id = d.blocked_by
     WHERE d.todo_id = NEW.id
       AND b.status NOT IN ('done', 'cancelled');
    IF open_blockers IS NOT NULL THEN
        RAISE EXCEPTION 'todo % is blocked and cannot move to %', NEW.id, NEW.status
            USING ERRCODE = '23514',
                  DETAIL = format('Open blockers: %s.', open_blockers),
                  HINT = 'Finish or cancel the blockers first, or remove the dependencies.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION intracker_data.todos_blocker_gate() IS
    'Trigger: refuses to move a todo to in_progress or done while a blocker is open (23514 naming the blockers).';

-- A new todo has no dependencies yet, so only updates need the gate.
CREATE TRIGGER todos_blocker_gate BEFORE UPDATE OF status ON intracker_data.todos
    FOR EACH ROW EXECUTE FUNCTION intracker_data.todos_blocker_gate();

-- Reject dependency cycles.  Concurrent inserts in one project are
-- serialised by an advisory lock, or two transactions could each add one
-- half of a cycle without seeing the other.
CREATE FUNCTION intracker_data.todo_dependencies_no_cycle()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cycle uuid[];
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('intracker.todo_dependencies:' || NEW.project_id::text, 0));

    WITH RECURSIVE chain (todo_id, path) AS (
        SELECT d.blocked_by, ARRAY[NEW.todo_id, NEW.blocked_by, d.blocked_by]
          FROM intracker_data.todo_dependencies d
         WHERE d.todo_id = NEW.blocked_by
        UNION ALL
        SELECT d.blocked_by, c.path || d.blocked_by
          FROM chain c
          JOIN intracker_data.todo_dependencies d ON d.todo_id = c.todo_id
         WHERE c.todo_id <> NEW.todo_id
    ) CYCLE todo_id SET is_cycle USING visited
    SELECT c.path INTO cycle FROM chain c WHERE c.todo_id = NEW.todo_id LIMIT 1;

    IF cycle IS NOT NULL THEN
        RAISE EXCEPTION 'dependency would create a cycle'
            USING ERRCODE = '23514',
                  DETAIL = format('Todo %s would block itself: %s.', NEW.todo_id, array_to_string(cycle, ' is blocked by ')),
                  HINT = 'Remove one of the existing dependencies first.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION intracker_data.todo_dependencies_no_cycle() IS 'Trigger: rejects a dependency that would close a cycle (23514 with the cycle in DETAIL).';

CREATE TRIGGER todo_dependencies_no_cycle BEFORE INSERT OR UPDATE ON intracker_data.todo_dependencies
    FOR EACH ROW EXECUTE FUNCTION intracker_data.todo_dependencies_no_cycle();

-- Dependencies are part of editing a todo: editors add and remove them.
ALTER TABLE intracker_data.todo_dependencies ENABLE ROW LEVEL SECURITY;
CREATE POLICY todo_dependencies_select ON intracker_data.todo_dependencies FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));
CREATE POLICY todo_dependencies_insert ON intracker_data.todo_dependencies FOR INSERT
    WITH CHECK (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY todo_dependencies_delete ON intracker_data.todo_dependencies FOR DELETE
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));


CREATE VIEW intracker.todo_dependencies WITH (security_invoker = true) AS
SELECT todo_id, blocked_by, project_id, created_by, created_at
  FROM intracker_data.todo_dependencies;
COMMENT ON VIEW intracker.todo_dependencies IS 'todo_id is blocked by blocked_by (same project, no cycles).';

CREATE FUNCTION intracker.add_dependency(todo_id uuid, blocked_by uuid)
RETURNS intracker.todo_dependencies
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    project uuid := intracker_data.project_of('intracker_data.todos', todo_id);
    added intracker.todo_dependencies;
    violated text;
    violated_column text;
BEGIN
    PERFORM intracker_data.require_role(project, 'editor', 'edit dependencies');
    IF intracker_data.project_of('intracker_data.todos', blocked_by) <> project THEN
        RAISE EXCEPTION 'invalid value for blocked_by'
            USING ERRCODE = '22023',
                  DETAIL = 'blocked_by must be a todo of the same project.';
    END IF;
    INSERT INTO intracker_data.todo_dependencies AS d (todo_id, blocked_by, project_id)
    VALUES (add_dependency.todo_id, add_dependency.blocked_by, project)
    ON CONFLICT ON CONSTRAINT todo_dependencies_pkey DO NOTHING;
    SELECT * INTO added FROM intracker.todo_dependencies d
     WHERE d.todo_id = add_dependency.todo_id AND d.blocked_by = add_dependency.blocked_by;
    RETURN added;
EXCEPTION
    WHEN check_violation OR foreign_key_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
COMMENT ON FUNCTION intracker.add_dependency(uuid, uuid) IS
    'Record that todo_id is blocked by blocked_by (same project). Idempotent; 23514 if it would create a cycle.';

CREATE FUNCTION intracker.remove_dependency(todo_id uuid, blocked_by uuid)
RETURNS intracker.todo_dependencies
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    removed intracker.todo_dependencies;
BEGIN
    PERFORM intracker_data.require_role(intracker_data.project_of('intracker_data.todos', todo_id),
                                        'editor', 'edit dependencies');
    DELETE FROM intracker_data.todo_dependencies d
     WHERE d.todo_id = remove_dependency.todo_id AND d.blocked_by = remove_dependency.blocked_by
    RETURNING d.todo_id, d.blocked_by, d.project_id, d.created_by, d.created_at INTO removed;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'todo % is not blocked by %', todo_id, blocked_by USING ERRCODE = 'PT404';
    END IF;
    RETURN removed;
END
$$;
COMMENT ON FUNCTION intracker.remove_dependency(uuid, uuid) IS 'Remove a dependency. Editors and owners.';

GRANT SELECT ON intracker_data.todo_dependencies, intracker.todo_dependencies TO intracker_user;
GRANT INSERT (todo_id, blocked_by, project_id), DELETE
    ON intracker.todo_dependencies, intracker_data.todo_dependencies TO intracker_user;
GRANT EXECUTE ON FUNCTION intracker_data.todos_blocker_gate(), intracker_data.todo_dependencies_no_cycle(),
    intracker.add_dependency(uuid, uuid), intracker.remove_dependency(uuid, uuid) TO intracker_user;
