"""deploy/postgres-init as the postgres image runs it, on this suite's PostgreSQL: migrations as the owner role,
the application as the data-only role, which reads and writes rows and changes no table."""

import subprocess
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from django.conf import settings
from psycopg import sql

from tests import system_tools
from tests.deploy.conftest import REPO, base_env, manage, production_env

INIT_SCRIPT = REPO / "deploy" / "postgres-init" / "10-roles.sh"
SERVER = settings.DATABASES["default"]

pytestmark = [
    pytest.mark.postgres,
    system_tools.requires("psql", install="apt-get install postgresql-client"),
    pytest.mark.skipif(
        not SERVER["ENGINE"].endswith("postgresql"),
        reason="needs PostgreSQL: DATABASE_URL=postgres://postgres@127.0.0.1:5432/courier",
    ),
]


def superuser() -> psycopg.Connection:
    return psycopg.connect(
        dbname="postgres",
        user=SERVER["USER"] or None,
        password=SERVER["PASSWORD"] or None,
        host=SERVER["HOST"] or None,
        port=SERVER["PORT"] or None,
        autocommit=True,
    )


def url(role: str, database: str) -> str:
    return f"postgres://{role}@{SERVER['HOST'] or 'localhost'}:{SERVER['PORT'] or 5432}/{database}"


@pytest.fixture
def initialised(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A new database, run through the init script with roles of its own (roles are shared by the server)."""
    suffix = uuid4().hex[:8]
    names = {"db": f"courier_roles_{suffix}", "owner": f"owner_{suffix}", "app": f"app_{suffix}"}
    with superuser() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(names["db"])))
    env = base_env(tmp_path) | {
        "POSTGRES_USER": SERVER["USER"],
        "POSTGRES_DB": names["db"],
        "PGHOST": SERVER["HOST"] or "localhost",
        "PGPORT": str(SERVER["PORT"] or 5432),
        "PGPASSWORD": SERVER["PASSWORD"] or "",
        "COURIER_OWNER_ROLE": names["owner"],
        "COURIER_APP_ROLE": names["app"],
        "POSTGRES_OWNER_PASSWORD": "owner-password",
        "POSTGRES_APP_PASSWORD": "app-password",
    }
    try:
        result = subprocess.run(["bash", str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        yield names
    finally:
        with superuser() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(names["db"])))
            for role in (names["app"], names["owner"]):
                admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_the_owner_migrates_and_the_app_role_works_on_rows_only(initialised: dict[str, str], tmp_path: Path) -> None:
    env = production_env(tmp_path)
    # As compose passes them: the role in DATABASE_URL, its password in libpq's PGPASSWORD.
    as_owner = env | {"DATABASE_URL": url(initialised["owner"], initialised["db"]), "PGPASSWORD": "owner-password"}
    migrated = manage("migrate", "--noinput", env=as_owner)
    assert migrated.returncode == 0, migrated.stderr
    create = (
        "from couriers.services import courier_create; from couriers.models import Courier; "
        "courier_create(name='Ann', phone='+15550009999', transport_type='car'); print(Courier.objects.count())"
    )

    as_app = env | {"DATABASE_URL": url(initialised["app"], initialised["db"]), "PGPASSWORD": "app-password"}
    written = manage("shell", "--verbosity", "0", "--command", create, env=as_app)
    refused = manage("migrate", "couriers", "zero", "--noinput", env=as_app)

    assert written.stdout.strip() == "1", written.stderr
    assert refused.returncode != 0
    assert "must be owner of table" in refused.stderr or "permission denied" in refused.stderr, refused.stderr[-2000:]
    with (
        psycopg.connect(url(initialised["app"], initialised["db"]), password="app-password") as app,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        app.execute("CREATE TABLE intruder (id int)")


def test_the_app_role_has_a_statement_timeout(initialised: dict[str, str]) -> None:
    with psycopg.connect(url(initialised["app"], initialised["db"]), password="app-password") as app:
        assert app.execute("SHOW statement_timeout").fetchone() == ("30s",)
