-- Comments on todos, features and documents, and @mentions.
--
-- A comment belongs to exactly one todo, feature or document of its
-- project and goes with it.  Editors and owners comment, every member reads; an author edits
-- their own comments (optimistic locking, like todos) and deletes them, an
-- owner deletes any.  Bodies are Markdown, kept as text, at most
-- 20,000 characters.
--
-- "@handle" in a comment (or a todo's description, 98_notifications.sql)
-- mentions the project member with that handle, regardless of case.  A
-- handle of anyone else mentions no one: the comment's mentions list only
-- members, so it tells nothing about who else exists.  mentions is set when
-- the body is written, so renaming a handle later changes no past mention.

-- The members of a project that a text mentions, in id order.  SECURITY
-- DEFINER, to read the project's memberships directly; it answers only to a
-- member of the project (nobody else learns who is in it) and names only
-- its active members.  A handle starts after a character that cannot be part of an address or a
-- handle (so "ann@example.com" mentions no one) and ends where handle
-- characters do.
CREATE FUNCTION intracker_data.mentioned_members(project_id uuid, body text)
RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF body IS NULL OR strpos(body, '@') = 0 OR intracker_data.my_role(project_id) IS NULL THEN
        RETURN '{}';
    END IF;
    RETURN (SELECT coalesce(array_agg(DISTINCT m.user_id ORDER BY m.user_id), '{}')
              FROM regexp_matches(body, '(?<![A-Za-z0-9_.@-])@([A-Za-z0-9][A-Za-z0-9_-]{0,38})(?![A-Za-z0-9_-])', 'g')
                   AS h (handle)
              JOIN intracker_data.users u ON lower(u.handle) = lower(h.handle[1]) AND u.is_active
              JOIN intracker_data.project_members m ON m.user_id = u.id
                                                   AND m.project_id = mentioned_members.project_id);
END
$$;
COMMENT ON FUNCTION intracker_data.mentioned_members(uuid, text) IS
    'The active members of a project that a text @mentions by handle (regardless of case), in id order; empty unless the acting user is a member.';

CREATE TABLE intracker_data.comments (
    id              uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    project_id      uuid NOT NULL REFERENCES intracker_data.projects (id) ON DELETE CASCADE,
    todo_id         uuid,
    feature_id      uuid,
    document_id     uuid,
    author          uuid NOT NULL REFERENCES intracker_data.users (id) DEFAULT intracker.current_user_id(),
    body            text NOT NULL
                    CONSTRAINT comments_body_length CHECK (btrim(body) <> '' AND length(body) <= 20000),
    mentions        uuid[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1,
    CONSTRAINT comments_one_subject CHECK (num_nonnulls(todo_id, feature_id, document_id) = 1),
    CONSTRAINT comments_todo_same_project FOREIGN KEY (todo_id, project_id)
        REFERENCES intracker_data.todos (id, project_id) ON DELETE CASCADE,
    CONSTRAINT comments_feature_same_project FOREIGN KEY (feature_id, project_id)
        REFERENCES intracker_data.features (id, project_id) ON DELETE CASCADE,
    CONSTRAINT comments_document_same_project FOREIGN KEY (document_id, project_id)
        REFERENCES intracker_data.documents (id, project_id) ON DELETE CASCADE
);
CREATE INDEX comments_todo_id_idx ON intracker_data.comments (todo_id, project_id);
CREATE INDEX comments_feature_id_idx ON intracker_data.comments (feature_id, project_id);
CREATE INDEX comments_document_id_idx ON intracker_data.comments (document_id, project_id);
CREATE INDEX comments_project_id_idx ON intracker_data.comments (project_id, created_at);
CREATE INDEX comments_author_idx ON intracker_data.comments (author);
COMMENT ON TABLE intracker_data.comments IS 'Comments on todos, features and documents (intracker.comments is the API).';

COMMENT ON CONSTRAINT comments_body_length ON intracker_data.comments IS 'body must not be blank (at most 20000 characters).';
COMMENT ON CONSTRAINT comments_one_subject ON intracker_data.comments IS 'exactly one of todo_id, feature_id and document_id must be set.';
COMMENT ON CONSTRAINT comments_todo_same_project ON intracker_data.comments IS 'todo_id must be a todo of the same project.';
COMMENT ON CONSTRAINT comments_feature_same_project ON intracker_data.comments IS 'feature_id must be a feature of the same project.';
COMMENT ON CONSTRAINT comments_document_same_project ON intracker_data.comments IS 'document_id must be a document of the same project.';
COMMENT ON CONSTRAINT comments_author_fkey ON intracker_data.comments IS 'author must be a user.';
COMMENT ON CONSTRAINT comments_project_id_fkey ON intracker_data.comments IS 'project_id must be a project.';

SELECT pg_catalog.pg_extension_config_dump('intracker_data.comments', '');

CREATE TRIGGER comments_row_version BEFORE UPDATE ON intracker_data.comments
    FOR EACH ROW EXECUTE FUNCTION intracker_data.row_version('comment');

-- Before a comment is written: its project is its subject's (so a client
-- posting to the view names the todo, feature or document only), and its mentions
-- are read from the body.  A restored comment keeps what it had.
CREATE FUNCTION intracker_data.comment_before_write()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF intracker_data.restoring() THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' AND NEW.project_id IS NULL THEN
        -- as the caller: a subject they cannot see leaves it NULL (23502)
        NEW.project_id := coalesce((SELECT t.project_id FROM intracker_data.todos t WHERE t.id = NEW.todo_id),
                                   (SELECT f.project_id FROM intracker_data.features f WHERE f.id = NEW.feature_id),
                                   (SELECT d.project_id FROM intracker_data.documents d WHERE d.id = NEW.document_id));
    END IF;
    IF TG_OP = 'INSERT' OR NEW.body IS DISTINCT FROM OLD.body THEN
        NEW.mentions := intracker_data.mentioned_members(NEW.project_id, NEW.body);
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION intracker_data.comment_before_write() IS
    'Trigger: fills a new comment''s project from its todo, feature or document, and its mentions from its body.';
CREATE TRIGGER comments_before_write BEFORE INSERT OR UPDATE OF body ON intracker_data.comments
    FOR EACH ROW EXECUTE FUNCTION intracker_data.comment_before_write();

-- Members read a project's comments; editors and owners write their own;
-- an author (still a member) or an owner deletes.
ALTER TABLE intracker_data.comments ENABLE ROW LEVEL SECURITY;
CREATE POLICY comments_select ON intracker_data.comments FOR SELECT
    USING (project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]));
CREATE POLICY comments_insert ON intracker_data.comments FOR INSERT
    WITH CHECK (author = (SELECT intracker.current_user_id())
                AND project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY comments_update ON intracker_data.comments FOR UPDATE
    USING (author = (SELECT intracker.current_user_id())
           AND project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]))
    WITH CHECK (author = (SELECT intracker.current_user_id())
                AND project_id = ANY ((SELECT intracker_data.my_project_ids('editor'))::uuid[]));
CREATE POLICY comments_delete ON intracker_data.comments FOR DELETE
    USING ((author = (SELECT intracker.current_user_id())
            AND project_id = ANY ((SELECT intracker_data.my_project_ids('viewer'))::uuid[]))
           OR project_id = ANY ((SELECT intracker_data.my_project_ids('owner'))::uuid[]));

CREATE VIEW intracker.comments WITH (security_invoker = true) AS
SELECT id, project_id, todo_id, feature_id, author, body, mentions, created_at, updated_at, version, document_id
  FROM intracker_data.comments;
COMMENT ON VIEW intracker.comments IS
    'Comments on the todos, features and documents of your projects (Markdown, at most 20,000 characters). Editors and owners add them; authors edit and delete their own; owners delete any.';
COMMENT ON COLUMN intracker.comments.todo_id IS 'The todo commented on (else NULL).';
COMMENT ON COLUMN intracker.comments.feature_id IS 'The feature commented on (else NULL).';
COMMENT ON COLUMN intracker.comments.document_id IS 'The document commented on (else NULL).';
COMMENT ON COLUMN intracker.comments.mentions IS 'The project members the body @mentions by handle, as of the body''s last edit.';
COMMENT ON COLUMN intracker.comments.version IS 'Optimistic lock: pass it as expected_version to update_comment().';

-- A comment as the caller sees it; PT404 when it does not exist or its
-- project is not theirs.
CREATE FUNCTION intracker_data.visible_comment(comment_id uuid)
RETURNS intracker_data.comments
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    visible intracker_data.comments;
BEGIN
    PERFORM intracker_data.require_user();
    SELECT * INTO visible FROM intracker_data.comments c WHERE c.id = comment_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'comment % not found', coalesce(comment_id::text, 'NULL')
            USING ERRCODE = 'PT404',
                  HINT = 'The comment does not exist or you are not a member of its project.';
    END IF;
    RETURN visible;
END
$$;
COMMENT ON FUNCTION intracker_data.visible_comment(uuid) IS 'A comment the caller may read; PT404 otherwise.';

-- What an id names that comments may be about: a todo, a feature or a
-- document the caller can see (RLS), and its project; all NULL otherwise.
CREATE FUNCTION intracker_data.comment_subject(entity_id uuid, OUT todo_id uuid, OUT feature_id uuid,
                                               OUT document_id uuid, OUT project_id uuid)
RETURNS record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT t.id, t.project_id INTO todo_id, project_id FROM intracker_data.todos t WHERE t.id = entity_id;
    IF project_id IS NULL THEN
        SELECT f.id, f.project_id INTO feature_id, project_id FROM intracker_data.features f WHERE f.id = entity_id;
    END IF;
    IF project_id IS NULL THEN
        SELECT d.id, d.project_id INTO document_id, project_id FROM intracker_data.documents d WHERE d.id = entity_id;
    END IF;
END
$$;
COMMENT ON FUNCTION intracker_data.comment_subject(uuid) IS
    'The todo, feature or document an id names, as the caller sees it, and its project; NULLs when it names none.';

CREATE FUNCTION intracker.add_comment(entity_id uuid, body text)
RETURNS intracker.comments
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    subject record;
    added intracker.comments;
    violated text;
    violated_column text;
BEGIN
    PERFORM intracker_data.require_user();
    subject := intracker_data.comment_subject(entity_id);
    IF subject.project_id IS NULL THEN
        RAISE EXCEPTION 'todo, feature or document % not found', coalesce(entity_id::text, 'NULL')
            USING ERRCODE = 'PT404',
                  HINT = 'Comment on a todo, a feature or a document of a project you are a member of.';
    END IF;
    PERFORM intracker_data.require_role(subject.project_id, 'editor', 'comment');
    -- author: the column's default, the acting user (users may not name one)
    INSERT INTO intracker_data.comments AS c (project_id, todo_id, feature_id, document_id, body)
    VALUES (subject.project_id, subject.todo_id, subject.feature_id, subject.document_id, add_comment.body)
    RETURNING c.id, c.project_id, c.todo_id, c.feature_id, c.author, c.body, c.mentions, c.created_at,
              c.updated_at, c.version, c.document_id
         INTO added;
    RETURN added;
EXCEPTION
    WHEN check_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
COMMENT ON FUNCTION intracker.add_comment(uuid, text) IS
    'Comment on a todo, a feature or a document (entity_id is any of them): Markdown, at most 20,000 characters; @handle mentions a member. Editors and owners.';

CREATE FUNCTION intracker.update_comment(comment_id uuid, body text, expected_version integer)
RETURNS intracker.comments
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := intracker_data.require_user();
    target intracker_data.comments := intracker_data.visible_comment(comment_id);
    updated intracker.comments;
    violated text;
    violated_column text;
BEGIN
    IF target.author <> me THEN
        RAISE EXCEPTION 'permission denied to edit another user''s comment'
            USING ERRCODE = '42501',
                  DETAIL = format('Comment %s was written by user %s.', target.id, target.author),
                  HINT = 'Add a comment of your own instead.';
    END IF;
    PERFORM intracker_data.require_role(target.project_id, 'editor', 'edit comments');
    IF expected_version IS NULL THEN
        RAISE EXCEPTION 'expected_version must not be null'
            USING ERRCODE = '22023',
                  HINT = format('Pass the version you read (%s is current).', target.version);
    END IF;
    UPDATE intracker_data.comments AS c
       SET body = update_comment.body, version = update_comment.expected_version
     WHERE c.id = target.id
    RETURNING c.id, c.project_id, c.todo_id, c.feature_id, c.author, c.body, c.mentions, c.created_at,
              c.updated_at, c.version, c.document_id
         INTO updated;
    IF updated.id IS NULL THEN
        RAISE EXCEPTION 'comment % not found', target.id
            USING ERRCODE = 'PT404',
                  HINT = 'It was deleted meanwhile.';
    END IF;
    RETURN updated;
EXCEPTION
    WHEN check_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, violated_column = COLUMN_NAME;
        PERFORM intracker_data.explain_violation(violated, violated_column);
        RAISE;
END
$$;
COMMENT ON FUNCTION intracker.update_comment(uuid, text, integer) IS
    'Replace the body of your comment; PT409 if expected_version is stale. Its author only (an editor or owner).';

CREATE FUNCTION intracker.delete_comment(comment_id uuid)
RETURNS intracker.comments
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := intracker_data.require_user();
    target intracker_data.comments := intracker_data.visible_comment(comment_id);
    deleted intracker.comments;
BEGIN
    IF target.author <> me THEN
        PERFORM intracker_data.require_role(target.project_id, 'owner', 'delete another user''s comment');
    END IF;
    DELETE FROM intracker_data.comments AS c WHERE c.id = target.id
    RETURNING c.id, c.project_id, c.todo_id, c.feature_id, c.author, c.body, c.mentions, c.created_at,
              c.updated_at, c.version, c.document_id
         INTO deleted;
    IF deleted.id IS NULL THEN
        RAISE EXCEPTION 'comment % not found', target.id
            USING ERRCODE = 'PT404',
                  HINT = 'It was deleted meanwhile.';
    END IF;
    RETURN deleted;
END
$$;
COMMENT ON FUNCTION intracker.delete_comment(uuid) IS
    'Delete a comment and return it as it was: your own, or any in a project you own.';

-- For agents: the conversation on a todo, feature or document, oldest first.
CREATE FUNCTION intracker.list_comments(entity_id uuid, max_rows integer DEFAULT 100)
RETURNS SETOF intracker.comments
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM intracker_data.require_user();
    IF max_rows IS NULL OR max_rows NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000' USING ERRCODE = '22023';
    END IF;
    IF (intracker_data.comment_subject(entity_id)).project_id IS NULL THEN
        RAISE EXCEPTION 'todo, feature or document % not found', coalesce(entity_id::text, 'NULL')
            USING ERRCODE = 'PT404',
                  HINT = 'It does not exist or you are not a member of its project.';
    END IF;
    RETURN QUERY
    SELECT c.* FROM intracker.comments c
     WHERE c.todo_id = list_comments.entity_id OR c.feature_id = list_comments.entity_id
        OR c.document_id = list_comments.entity_id
     ORDER BY c.created_at, c.id
     LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION intracker.list_comments(uuid, integer) IS
    'The comments on a todo, feature or document, oldest first; at most max_rows (1 to 1000, default 100).';

CREATE TRIGGER comments_refuse_read_only BEFORE INSERT OR UPDATE OR DELETE
    ON intracker_data.comments FOR EACH STATEMENT EXECUTE FUNCTION intracker_data.refuse_read_only_write();

CREATE TRIGGER comments_events AFTER INSERT OR UPDATE OR DELETE ON intracker_data.comments
    FOR EACH ROW EXECUTE FUNCTION intracker_data.record_event('comment', 'id', 'project_id',
                                                             'INSERT:added');

GRANT SELECT ON intracker_data.comments, intracker.comments TO intracker_user;
GRANT INSERT (id, project_id, todo_id, feature_id, document_id, body), UPDATE (body, version), DELETE
    ON intracker_data.comments, intracker.comments TO intracker_user;
-- comment_before_write runs as the writer (RLS judges the subject it reads),
-- so writers ask restoring() themselves: it says only whether their own
-- session restores a dump.
GRANT EXECUTE ON FUNCTION intracker_data.restoring(), intracker_data.mentioned_members(uuid, text), intracker_data.visible_comment(uuid),
    intracker_data.comment_subject(uuid),
    intracker.add_comment(uuid, text), intracker.update_comment(uuid, text, integer),
    intracker.delete_comment(uuid), intracker.list_comments(uuid, integer) TO intracker_user;
