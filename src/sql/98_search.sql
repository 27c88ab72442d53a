-- Full-text search over todos, features, comments, documents and sessions.
--
-- intracker.search() takes what people type into a search box: web-search
-- syntax (quoted phrases, "or", -excluded words), the last word matched as
-- a prefix so that results come while typing, parsed with the text search
-- configuration intracker.search_config ('simple' by default: no stemming,
-- no stop words, any language).  It finds only what the caller may read:
-- it runs as the data's owner (SECURITY DEFINER, as the context documents
-- do) and keeps to the caller's projects itself, as row-level security
-- would, and searches session notes (summary, next steps) only where the
-- caller may read them (viewers: their own).  The statements it builds
-- hold nothing of the caller's but the configuration's name, quoted.
--
-- Each kind has a GIN index on intracker_data.search_vector('simple', ...)
-- of its texts, titles weighing more than bodies; search() spells the
-- configuration in its statements, so these indexes serve the default and
-- a database that sets another configuration adds indexes built with it
-- (README, "Search").  Snippets are cut from the first 20,000 characters
-- of a text.

-- Titles (weight A) and bodies (weight B) as one vector.  Runs of 2,048
-- characters or more without a space (a pasted blob) are left out, as
-- to_tsvector would, but without its NOTICE on every write.
CREATE FUNCTION intracker_data.search_vector(config regconfig, title text, body text)
RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN setweight(to_tsvector(config, regexp_replace(coalesce(title, ''), '(?:\S{128}){16}\S*', ' ', 'g')), 'A')
       || setweight(to_tsvector(config, regexp_replace(coalesce(body, ''), '(?:\S{128}){16}\S*', ' ', 'g')), 'B');
COMMENT ON FUNCTION intracker_data.search_vector(regconfig, text, text) IS
    'The search vector of a title (weight A) and a body (weight B) under a text search configuration; what the search indexes hold.';

-- A list's items as one text.  array_to_string() is STABLE (any element
-- type's output may be); for text it is not, and index expressions need
-- IMMUTABLE.
CREATE FUNCTION intracker_data.words_of(items text[])
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN array_to_string(items, ' ');
COMMENT ON FUNCTION intracker_data.words_of(text[]) IS 'The items of a text list as one text (for the session search indexes).';

CREATE INDEX todos_search_idx ON intracker_data.todos
    USING gin (intracker_data.search_vector('simple', title, description));
CREATE INDEX features_search_idx ON intracker_data.features
    USING gin (intracker_data.search_vector('simple', title, description));
CREATE INDEX comments_search_idx ON intracker_data.comments
    USING gin (intracker_data.search_vector('simple', NULL, body));
CREATE INDEX documents_search_idx ON intracker_data.documents
    USING gin (intracker_data.search_vector('simple', title, body));
-- Sessions: what every member reads, and the working notes apart.
CREATE INDEX sessions_search_idx ON intracker_data.sessions
    USING gin (intracker_data.search_vector('simple', goal, intracker_data.words_of(blockers)));
CREATE INDEX sessions_notes_search_idx ON intracker_data.sessions
    USING gin (intracker_data.search_vector('simple', summary, intracker_data.words_of(next_steps)));

-- A search box's text as a tsquery: websearch_to_tsquery's syntax, and its
-- last word a prefix (unless it ends a quoted phrase or is excluded), so
-- that "oauth cal" finds "OAuth callback".  NULL when nothing searchable
-- is left (only stop words or punctuation).
CREATE FUNCTION intracker_data.search_query(config regconfig, query text)
RETURNS tsquery
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    parsed text := websearch_to_tsquery(config, query)::text;
    last_word text := (regexp_match(btrim(query), '(\S+)$'))[1];
BEGIN
    IF parsed = '' THEN
        RETURN NULL;
    END IF;
    IF right(btrim(query), 1) <> '"' AND left(last_word, 1) <> '-' AND lower(last_word) <> 'or'
       AND parsed ~ '''(?:[^'']|'''')*''$' THEN
        parsed := parsed || ':*';
    END IF;
    RETURN parsed::tsquery;
END
$$;
COMMENT ON FUNCTION intracker_data.search_query(regconfig, text) IS
    'A search box''s text as a tsquery: web-search syntax, its last word matched as a prefix; NULL when nothing searchable is left.';

-- The search itself, as the data's owner; intracker.search() below is the
-- API.  (Two functions, because plpgsql refuses an argument and a result
-- column of the same name, project_id, which the API has.)
CREATE FUNCTION intracker_data.search_hits(query text, in_project uuid, kinds text[], max_results integer)
RETURNS TABLE (kind text, id uuid, project_id uuid, title text, snippet text, rank real, updated_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    all_kinds constant text[] := ARRAY['todo', 'feature', 'comment', 'document', 'session'];
    config regconfig;
    parsed tsquery;
    projects uuid[];
    -- each kind's best matches: its statement, with the configuration spelled out
    best text[] := '{}';
BEGIN
    PERFORM intracker_data.require_user();
    IF query IS NULL OR btrim(query) = '' OR length(query) > 1000 THEN
        RAISE EXCEPTION 'query must be 1 to 1000 characters'
            USING ERRCODE = '22023',
                  HINT = 'Words, "quoted phrases", or between words, -word to exclude one.';
    END IF;
    IF max_results IS NULL OR max_results NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'max_results must be between 1 and 100'
            USING ERRCODE = '22023',
                  DETAIL = format('max_results is %s.', coalesce(max_results::text, 'NULL'));
    END IF;
    IF kinds IS NOT NULL AND (cardinality(kinds) = 0 OR NOT kinds <@ all_kinds OR array_position(kinds, NULL) IS NOT NULL) THEN
        RAISE EXCEPTION 'invalid value for kinds'
            USING ERRCODE = '22023',
                  DETAIL = format('kinds is %s.', kinds),
                  HINT = 'Any of todo, feature, comment, document, session; NULL for all.';
    END IF;
    BEGIN
        config := current_setting('intracker.search_config')::regconfig;
    EXCEPTION WHEN undefined_object OR invalid_text_representation THEN
        RAISE EXCEPTION 'intracker.search_config is not a text search configuration'
            USING ERRCODE = '22023',
                  DETAIL = format('intracker.search_config is %L.', current_setting('intracker.search_config')),
                  HINT = 'SELECT cfgname FROM pg_ts_config lists them; ''simple'' is the default.';
    END;
    IF in_project IS NOT NULL THEN
        PERFORM intracker_data.require_role(in_project, 'viewer', 'search this project');
        projects := ARRAY[in_project];
    ELSE
        projects := intracker_data.my_project_ids('viewer');
    END IF;
    parsed := intracker_data.search_query(config, query);
    IF parsed IS NULL THEN
        RETURN;
    END IF;

    IF kinds IS NULL OR 'todo' = ANY (kinds) THEN
        best := best || format($q$
            SELECT 'todo'::text AS kind, t.id, t.project_id, t.title, left(coalesce(t.description, ''), 20000) AS body,
                   ts_rank_cd(intracker_data.search_vector(%1$L, t.title, t.description), $1, 32) AS rank, t.updated_at
              FROM intracker_data.todos t
             WHERE intracker_data.search_vector(%1$L, t.title, t.description) @@ $1 AND t.project_id = ANY ($2)
             ORDER BY rank DESC, t.updated_at DESC LIMIT $3$q$, config);
    END IF;
    IF kinds IS NULL OR 'feature' = ANY (kinds) THEN
        best := best || format($q$
            SELECT 'feature'::text AS kind, f.id, f.project_id, f.title, left(coalesce(f.description, ''), 20000) AS body,
                   ts_rank_cd(intracker_data.search_vector(%1$L, f.title, f.description), $1, 32) AS rank, f.updated_at
              FROM intracker_data.features f
             WHERE intracker_data.search_vector(%1$L, f.title, f.description) @@ $1 AND f.project_id = ANY ($2)
             ORDER BY rank DESC, f.updated_at DESC LIMIT $3$q$, config);
    END IF;
    IF kinds IS NULL OR 'comment' = ANY (kinds) THEN
        -- titled by what it is about
        best := best || format($q$
            SELECT 'comment'::text AS kind, c.id, c.project_id,
                   coalesce((SELECT t.title FROM intracker_data.todos t WHERE t.id = c.todo_id),
                            (SELECT f.title FROM intracker_data.features f WHERE f.id = c.feature_id),
                            (SELECT d.title FROM intracker_data.documents d WHERE d.id = c.document_id)) AS title,
                   left(c.body, 20000) AS body,
                   ts_rank_cd(intracker_data.search_vector(%1$L, NULL, c.body), $1, 32) AS rank, c.updated_at
              FROM intracker_data.comments c
             WHERE intracker_data.search_vector(%1$L, NULL, c.body) @@ $1 AND c.project_id = ANY ($2)
             ORDER BY rank DESC, c.updated_at DESC LIMIT $3$q$, config);
    END IF;
    IF kinds IS NULL OR 'document' = ANY (kinds) THEN
        best := best || format($q$
            SELECT 'document'::text AS kind, d.id, d.project_id, d.title, left(d.body, 20000) AS body,
                   ts_rank_cd(intracker_data.search_vector(%1$L, d.title, d.body), $1, 32) AS rank, d.updated_at
              FROM intracker_data.documents d
             WHERE intracker_data.search_vector(%1$L, d.title, d.body) @@ $1 AND d.project_id = ANY ($2)
             ORDER BY rank DESC, d.updated_at DESC LIMIT $3$q$, config);
    END IF;
    IF kinds IS NULL OR 'session' = ANY (kinds) THEN
        -- the notes only where the caller may read them
        best := best || format($q$
            SELECT 'session'::text AS kind, s.id, s.project_id, coalesce(s.goal, 'Work session') AS title,
                   left(concat_ws(E'\n', array_to_string(s.blockers, E'\n'),
                                  CASE WHEN m.notes THEN s.summary END,
                                  CASE WHEN m.notes THEN array_to_string(s.next_steps, E'\n') END), 20000) AS body,
                   greatest(ts_rank_cd(intracker_data.search_vector(%1$L, s.goal, intracker_data.words_of(s.blockers)), $1, 32),
                            CASE WHEN m.notes THEN ts_rank_cd(intracker_data.search_vector(%1$L, s.summary,
                                                              intracker_data.words_of(s.next_steps)), $1, 32) END) AS rank,
                   coalesce(s.ended_at, s.started_at) AS updated_at
              FROM intracker_data.sessions s
             CROSS JOIN LATERAL (SELECT intracker_data.may_read_session_notes(s.project_id, s.user_id) AS notes) m
             WHERE s.project_id = ANY ($2)
               AND (intracker_data.search_vector(%1$L, s.goal, intracker_data.words_of(s.blockers)) @@ $1
                    OR (intracker_data.search_vector(%1$L, s.summary, intracker_data.words_of(s.next_steps)) @@ $1 AND m.notes))
             ORDER BY rank DESC, updated_at DESC LIMIT $3$q$, config);
    END IF;

    -- The best of all kinds; snippets for those only (ts_headline reads
    -- the whole text).
    RETURN QUERY EXECUTE format($q$
        SELECT b.kind, b.id, b.project_id, b.title,
               ts_headline(%1$L, CASE WHEN b.body = '' THEN b.title ELSE b.body END, $1,
                           'StartSel=**, StopSel=**, MaxWords=30, MinWords=10, MaxFragments=2, FragmentDelimiter=" … "'),
               b.rank, b.updated_at
          FROM (SELECT * FROM (%2$s) AS every_kind ORDER BY rank DESC, updated_at DESC, id LIMIT $3) AS b
         ORDER BY b.rank DESC, b.updated_at DESC, b.id$q$,
        config, array_to_string(ARRAY(SELECT '(' || statement || ')' FROM unnest(best) AS statement), ' UNION ALL '))
        USING parsed, projects, max_results;
END
$$;
COMMENT ON FUNCTION intracker_data.search_hits(text, uuid, text[], integer) IS
    'The body of intracker.search() (in_project: its project_id).';

CREATE FUNCTION intracker.search(query text, project_id uuid DEFAULT NULL, kinds text[] DEFAULT NULL,
                                 max_results integer DEFAULT 20)
RETURNS TABLE (kind text, id uuid, project_id uuid, title text, snippet text, rank real, updated_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM intracker_data.search_hits(query, project_id, kinds, max_results);
END;
COMMENT ON FUNCTION intracker.search(text, uuid, text[], integer) IS
    'Full-text search of what you may read: kind (todo, feature, comment, document, session), id, project_id, title, snippet (matches in **bold**), rank, updated_at; best first. Web-search syntax ("phrase", or, -word), the last word a prefix; in one project or all of yours; kinds NULL for all; at most max_results (1 to 100). Parsed with intracker.search_config (default simple).';

-- Writers compute the indexed vectors (index expressions run as the
-- writer), so they execute these two pure functions.
GRANT EXECUTE ON FUNCTION intracker.search(text, uuid, text[], integer),
    intracker_data.search_hits(text, uuid, text[], integer),
    intracker_data.search_vector(regconfig, text, text), intracker_data.words_of(text[]) TO intracker_user;
