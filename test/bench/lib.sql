-- test/bench/lib.sql — what the benches' data scripts share (\ir lib.sql):
-- the extension, schema bench, and the helpers that make the data the same
-- on every run.

CREATE EXTENSION intracker;
CREATE SCHEMA bench;

-- A uniform number in [0, 1) from a row number and a salt.
CREATE FUNCTION bench.u(n bigint, salt integer) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (hashint8(n * 64 + salt) & 2147483647)::double precision / 2147483648;

-- The uuid of a numbered row (todo, feature, session).
CREATE FUNCTION bench.num_id(n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE
RETURN lpad(to_hex(n), 32, '0')::uuid;
