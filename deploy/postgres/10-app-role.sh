#!/bin/sh
# Runs once, as the database owner, when the postgres service starts on an empty volume (the image runs
# every script in /docker-entrypoint-initdb.d). On an existing volume run it by hand, once:
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/10-app-role.sh
#
# The application (web, worker, beat) connects as supervision_app: rows only (SELECT, INSERT, UPDATE,
# DELETE), never the owner, so it cannot alter, drop or truncate a table, nor switch off the triggers that
# keep the audit trail append-only. On the audit trail it may only read and add. Migrations run as the
# owner (the compose `migrate` service).
set -eu
: "${POSTGRES_APP_PASSWORD:?set POSTGRES_APP_PASSWORD in .env}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_password="$POSTGRES_APP_PASSWORD" -v owner="$POSTGRES_USER" -v db="$POSTGRES_DB" <<'SQL'
SELECT format('CREATE ROLE supervision_app LOGIN PASSWORD %L', :'app_password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'supervision_app') \gexec
ALTER ROLE supervision_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'app_password';

REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO supervision_app;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO supervision_app;

-- Tables and sequences the owner creates from now on (every migration), and those it already has.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO supervision_app;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO supervision_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO supervision_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO supervision_app;

-- The audit trail: read and append only (migration accounts 0007 does the same when it runs later).
SELECT 'REVOKE UPDATE, DELETE, TRUNCATE ON accounts_auditevent FROM supervision_app'
WHERE to_regclass('public.accounts_auditevent') IS NOT NULL \gexec
SQL
