#!/usr/bin/env bash
# Run once by the postgres image, as the superuser, on an empty data directory (docker-entrypoint-initdb.d):
# the owner role runs the migrations and owns the schema; the app role (web, consumers) reads and writes rows
# and can change no table. An existing data directory is not touched: run this by hand there (docs/deployment.md).
set -euo pipefail

psql --no-psqlrc --set=ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=db="$POSTGRES_DB" \
    --set=owner="${COURIER_OWNER_ROLE:-courier_owner}" --set=owner_password="$POSTGRES_OWNER_PASSWORD" \
    --set=app="${COURIER_APP_ROLE:-courier_app}" --set=app_password="$POSTGRES_APP_PASSWORD" <<'SQL'
CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password';
CREATE ROLE :"app" LOGIN PASSWORD :'app_password';
-- A runaway statement of the application (an abusive search, a stuck lock) is cancelled; migrations, as the owner,
-- are not limited. The application also sets it per connection (DB_STATEMENT_TIMEOUT).
ALTER ROLE :"app" SET statement_timeout = '30s';
ALTER DATABASE :"db" OWNER TO :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app";
-- PostgreSQL 15: schema public belongs to the database's owner; no one else may create in it.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";
-- Whatever the owner's migrations create, now and later.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO :"app";
SQL
