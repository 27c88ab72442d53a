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

-- Reject dependency cycles: the new row (todo_id is blocked by blocked_by)
-- closes one exactly when todo_id is already reachable from blocked_by.
-- The walk visits each reachable todo once (UNION keeps a todo it has seen
-- from being expanded again), so its cost is linear in the todos reachable
-- whatever the number of paths through shared blockers.  Only when it finds
-- a cycle does it build one for the DETAIL: any predecessor of each
-- reachable todo is a parent that leads back to blocked_by (the rest of the
-- graph has no cycle), so one linear query and a walk up the parents give
-- it; a long cycle is shortened in the message.  Concurrent inserts in one
-- project are serialised by an advisory lock, or two transactions could
-- each add one half of a cycle without seeing the other.
CREATE FUNCTION intracker_data.todo_dependencies_no_cycle()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    shown_each_end CONSTANT integer := 6;
    parents jsonb;
    step uuid;
    walk uuid[];
    cycle text[];
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('intracker.todo_dependencies:' || NEW.project_id::text, 0));
    IF NEW.todo_id = NEW.blocked_by THEN
        RETURN NEW;     -- the CHECK constraint todo_dependencies_not_self says why
    END IF;

    -- The blockers of each todo reached come from an index scan per todo
    -- (OFFSET 0 keeps the planner from turning it into a join, which
    -- without fresh statistics it may hash over the whole table at every
    -- step).
    IF NOT EXISTS (WITH RECURSIVE reach (todo_id) AS (
                       SELECT NEW.blocked_by
                       UNION
                       SELECT b.blocked_by
                         FROM reach r
                        CROSS JOIN LATERAL (SELECT d.blocked_by FROM intracker_data.todo_dependencies d
                                             WHERE d.todo_id = r.todo_id OFFSET 0) b)
                   SELECT FROM reach r WHERE r.todo_id = NEW.todo_id) THEN
        RETURN NEW;
    END IF;

    WITH RECURSIVE reach (todo_id) AS (
        SELECT NEW.blocked_by
        UNION
        SELECT b.blocked_by
          FROM reach r
         CROSS JOIN LATERAL (SELECT d.blocked_by FROM intracker_data.todo_dependencies d
                              WHERE d.todo_id = r.todo_id OFFSET 0) b)
    SELECT jsonb_object_agg(p.blocked_by, p.parent) INTO parents
      FROM (SELECT b.blocked_by, min(r.todo_id::text) AS parent
              FROM reach r
             CROSS JOIN LATERAL (SELECT d.blocked_by FROM intracker_data.todo_dependencies d
                                  WHERE d.todo_id = r.todo_id OFFSET 0) b
             GROUP BY b.blocked_by) p;
    -- From todo_id up the parents to blocked_by: the cycle backwards.  (walk
    -- appears once in the append, so plpgsql appends in place.)
    step := NEW.todo_id;
    walk := ARRAY[step];
    WHILE step <> NEW.blocked_by LOOP
        step := (parents ->> step::text)::uuid;
        walk := array_append(walk, step);
    END LOOP;
    -- todo_id, then the walk reversed: blocked_by ... todo_id
    SELECT array_agg(w.todo_id::text ORDER BY w.n) INTO cycle
      FROM (SELECT NEW.todo_id AS todo_id, 0::bigint AS n
            UNION ALL
            SELECT x.todo_id, cardinality(walk) + 1 - x.n FROM unnest(walk) WITH ORDINALITY AS x (todo_id, n)) w;
    IF cardinality(cycle) > 2 * shown_each_end THEN
        cycle := cycle[1:shown_each_end]
                 || format('… %s more …', cardinality(cycle) - 2 * shown_each_end)
                 || cycle[cardinality(cycle) - shown_each_end + 1:];
    END IF;
    RAISE EXCEPTION 'dependency would create a cycle'
        USING ERRCODE = '23514',
              DETAIL = format('Todo %s would block itself: %s.', NEW.todo_id, array_to_string(cycle, ' is blocked by ')),
              HINT = 'Remove one of the existing dependencies first.';
END
$$;
COMMENT ON FUNCTION intracker_data.todo_dependencies_no_cycle() IS
    'Trigger: rejects a dependency that would close a cycle (23514 with the cycle in DETAIL, shortened past 12 todos); visits each reachable todo once.';

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
GRANT EXECUTE ON FUNCTION intracker.add_dependency(uuid, uuid), intracker.remove_dependency(uuid, uuid) TO intracker_user;
