------------------------------------------------------------------------------
-- Nothing is PUBLIC
--
-- Each concern's file grants what intracker_user and intracker_admin need on
-- its own objects; PUBLIC gets nothing anywhere, whoever adds an object
-- later and wherever they add it.
------------------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA intracker, intracker_data FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA intracker, intracker_data FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA intracker_data FROM PUBLIC;
