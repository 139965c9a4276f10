-- The two database roles of a production deployment (docs/deployment.md, "Database roles").
--
--   nemid_owner  owns the database and its tables; `manage.py migrate` runs as it, and nothing else.
--   nemid_app    what the service runs as (DATABASE_URL of the ASGI/WSGI servers and Celery). It owns
--                nothing, so it can neither TRUNCATE a table nor switch a trigger off; the grants that
--                `manage.py grant_runtime_role` (run as nemid_owner after every migrate, or by migrate
--                itself with NEMID_DB_RUNTIME_ROLE=nemid_app) give it allow only INSERT and SELECT on
--                the audit log's tables.
--
-- Run once, as a superuser:
--   psql -v owner_password="$OWNER_PASSWORD" -v app_password="$APP_PASSWORD" -f deploy/postgres/roles.sql
-- Then, to migrate and grant (as the owner):
--   DATABASE_URL=postgres://nemid_owner:...@db/nemid NEMID_DB_RUNTIME_ROLE=nemid_app python manage.py migrate
-- and run the service with DATABASE_URL=postgres://nemid_app:...@db/nemid.

CREATE ROLE nemid_owner LOGIN PASSWORD :'owner_password' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE ROLE nemid_app LOGIN PASSWORD :'app_password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
CREATE DATABASE nemid OWNER nemid_owner;
REVOKE ALL ON DATABASE nemid FROM PUBLIC;
GRANT CONNECT ON DATABASE nemid TO nemid_owner, nemid_app;

\connect nemid
-- Only the owner creates objects in the schema (PostgreSQL 15 already revokes CREATE from PUBLIC).
ALTER SCHEMA public OWNER TO nemid_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO nemid_app;
