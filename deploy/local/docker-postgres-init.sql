-- Run once by the postgres image on an empty volume (docker-compose.yml), as the
-- image's superuser. Mirrors what deploy/local/stack.sh and suite.py provision locally:
-- a non-superuser role `opscenter` (LOGIN CREATEDB), its database, one database per
-- service (suite.py's ensure_databases), and pg_trgm in template1 (so every new database,
-- e.g. tests' scratch ones, has it) and in opscenter.
\connect template1
CREATE EXTENSION IF NOT EXISTS pg_trgm;
\connect postgres
CREATE ROLE opscenter LOGIN CREATEDB PASSWORD 'opscenter';
CREATE DATABASE opscenter OWNER opscenter;
CREATE DATABASE opscenter_catalog OWNER opscenter;
CREATE DATABASE opscenter_installer OWNER opscenter;
CREATE DATABASE opscenter_hooks OWNER opscenter;
CREATE DATABASE opscenter_analytics OWNER opscenter;
CREATE DATABASE opscenter_reviews OWNER opscenter;
\connect opscenter
CREATE EXTENSION IF NOT EXISTS pg_trgm;
