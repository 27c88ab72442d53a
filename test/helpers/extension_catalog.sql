-- test/helpers/extension_catalog.sql: catalog_check.extension_catalog(), the
-- installed intracker extension as rows of definitions, by name (no oids),
-- so that two installations compare with EXCEPT: an update through the
-- upgrade chain must give exactly what a fresh install gives.
--
-- Used by sql/99_upgrade.sql (\ir) and test/t/013_upgrade.pl.  Each row is
-- (kind, object, detail); a difference names the kind and the object.
-- Covered: extension members and their comments, schemas, relations
-- (kind, persistence, row-level security, options, privileges, owner),
-- columns (position, type, collation, nullability, identity, generation,
-- default, privileges, comment), constraints, indexes, triggers (with their
-- enabled state), policies, views, sequences (and what owns them), functions
-- (whole definition: body, arguments and their defaults, volatility,
-- security, SET options such as search_path; privileges, comment, owner),
-- types, pg_extension_config_dump registrations, initial privileges
-- (pg_init_privs, what pg_dump compares privileges to) and the roles the
-- extension creates.

CREATE SCHEMA IF NOT EXISTS catalog_check;

CREATE OR REPLACE FUNCTION catalog_check.extension_catalog()
RETURNS TABLE (kind text, object text, detail text)
LANGUAGE sql STABLE AS $$
    WITH ext AS (SELECT e.oid, e.extrelocatable, e.extnamespace FROM pg_extension e WHERE e.extname = 'intracker'),
    members AS (
        SELECT d.classid, d.objid, d.objsubid FROM pg_depend d, ext
         WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
    nsp AS (SELECT n.oid FROM pg_namespace n WHERE n.nspname IN ('intracker', 'intracker_data')),
    rels AS (
        SELECT c.oid, c.oid::regclass::text AS name, c.relkind FROM pg_class c WHERE c.relnamespace IN (SELECT oid FROM nsp))
    SELECT 'extension', 'intracker', concat_ws(' ', x.extrelocatable, x.extnamespace::regnamespace) FROM ext x
    UNION ALL
    SELECT 'member', pg_describe_object(m.classid, m.objid, m.objsubid),
           obj_description(m.objid, (SELECT c.relname FROM pg_class c WHERE c.oid = m.classid))
      FROM members m
    UNION ALL
    SELECT 'schema', n.nspname, concat_ws(' ', n.nspacl::text, n.nspowner::regrole, obj_description(n.oid, 'pg_namespace'))
      FROM pg_namespace n WHERE n.oid IN (SELECT oid FROM nsp)
    UNION ALL
    SELECT 'relation', r.name, concat_ws(' ', c.relkind, c.relpersistence, c.relrowsecurity, c.relforcerowsecurity,
                                         c.reloptions::text, c.relacl::text, c.relowner::regrole, c.relreplident,
                                         c.relhasrules, obj_description(c.oid, 'pg_class'))
      FROM rels r JOIN pg_class c ON c.oid = r.oid
    UNION ALL
    SELECT 'column', r.name || '.' || a.attname,
           concat_ws(' ', row_number() OVER (PARTITION BY r.oid ORDER BY a.attnum), format_type(a.atttypid, a.atttypmod),
                     a.attcollation::regcollation, a.attnotnull, a.attidentity, a.attgenerated,
                     pg_get_expr(ad.adbin, ad.adrelid), a.attacl::text, a.attstattarget,
                     col_description(r.oid, a.attnum))
      FROM rels r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE r.relkind IN ('r', 'v', 'p', 'm', 'c', 'f')
    UNION ALL
    SELECT 'constraint', r.name || ' ' || co.conname,
           concat_ws(' ', co.contype, pg_get_constraintdef(co.oid), co.condeferrable, co.condeferred, co.convalidated,
                     obj_description(co.oid, 'pg_constraint'))
      FROM rels r JOIN pg_constraint co ON co.conrelid = r.oid
    UNION ALL
    SELECT 'index', i.indexrelid::regclass::text,
           concat_ws(' ', pg_get_indexdef(i.indexrelid), obj_description(i.indexrelid, 'pg_class'))
      FROM rels r JOIN pg_index i ON i.indrelid = r.oid
    UNION ALL
    SELECT 'trigger', r.name || ' ' || t.tgname,
           concat_ws(' ', pg_get_triggerdef(t.oid), t.tgenabled, obj_description(t.oid, 'pg_trigger'))
      FROM rels r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
    UNION ALL
    SELECT 'policy', r.name || ' ' || po.polname,
           concat_ws(' ', po.polcmd, po.polpermissive, (SELECT array_agg(x::regrole::text ORDER BY x::regrole::text)
                                                          FROM unnest(po.polroles) AS x),
                     pg_get_expr(po.polqual, po.polrelid), pg_get_expr(po.polwithcheck, po.polrelid),
                     obj_description(po.oid, 'pg_policy'))
      FROM rels r JOIN pg_policy po ON po.polrelid = r.oid
    UNION ALL
    SELECT 'view', r.name, pg_get_viewdef(r.oid)
      FROM rels r WHERE r.relkind IN ('v', 'm')
    UNION ALL
    SELECT 'sequence', r.name,
           concat_ws(' ', s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle,
                     (SELECT d.refobjid::regclass || '.' || a.attname || ' ' || d.deptype::text
                        FROM pg_depend d
                        JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                       WHERE d.classid = 'pg_class'::regclass AND d.objid = r.oid
                         AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
      FROM rels r JOIN pg_sequence s ON s.seqrelid = r.oid
    UNION ALL
    SELECT 'function', p.oid::regprocedure::text,
           concat_ws(' ', pg_get_functiondef(p.oid), p.proacl::text, p.proowner::regrole, p.procost, p.prorows,
                     p.proleakproof, obj_description(p.oid, 'pg_proc'))
      FROM pg_proc p WHERE p.pronamespace IN (SELECT oid FROM nsp)
    UNION ALL
    SELECT 'type', t.oid::regtype::text, concat_ws(' ', t.typtype, t.typowner::regrole, t.typacl::text,
                                                   obj_description(t.oid, 'pg_type'))
      FROM pg_type t
     WHERE t.typnamespace IN (SELECT oid FROM nsp)
       AND t.typelem = 0 AND NOT EXISTS (SELECT FROM pg_class c WHERE c.reltype = t.oid)
    UNION ALL
    SELECT 'dumped', cfg.tbl::regclass::text, cfg.cond
      FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS cfg (tbl, cond) WHERE e.extname = 'intracker'
    UNION ALL
    SELECT 'initial privileges', pg_describe_object(ip.classoid, ip.objoid, ip.objsubid),
           concat_ws(' ', ip.privtype, ip.initprivs::text)
      FROM pg_init_privs ip
      JOIN members m ON m.classid = ip.classoid AND m.objid = ip.objoid
    UNION ALL
    SELECT 'role', r.rolname, concat_ws(' ', r.rolcanlogin, r.rolinherit, r.rolsuper, r.rolcreaterole, r.rolcreatedb,
                                        (SELECT array_agg(g.rolname ORDER BY g.rolname) FROM pg_auth_members am
                                           JOIN pg_roles g ON g.oid = am.roleid WHERE am.member = r.oid))
      FROM pg_roles r WHERE r.rolname IN ('intracker_user', 'intracker_admin')
$$;
