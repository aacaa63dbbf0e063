"""docker-compose.yml: migrations run as the database owner; the application connects as a role that
cannot alter, drop or truncate the audit trail (issue 13). No Docker engine here: the file is read."""

from pathlib import Path

import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
INIT_SCRIPT = ROOT / "deploy" / "postgres" / "10-app-role.sh"
OWNER = "postgres://supervision:${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}@postgres:5432/supervision"
APP = "postgres://supervision_app:${POSTGRES_APP_PASSWORD:?set POSTGRES_APP_PASSWORD in .env}@postgres:5432/supervision"


def service(name: str) -> dict:
    return COMPOSE["services"][name]


def test_only_the_migrate_service_connects_as_the_owner():
    assert service("migrate")["environment"]["DATABASE_URL"] == OWNER
    assert service("migrate")["command"] == "python manage.py migrate --noinput"
    assert service("migrate")["restart"] == "no"
    for name in ("web", "worker", "beat"):
        assert service(name)["environment"]["DATABASE_URL"] == APP, name
        assert "POSTGRES_PASSWORD}" not in str(service(name)), name
        assert "migrate" not in str(service(name)["command"]), name


def test_the_application_starts_after_the_migrations():
    assert service("web")["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    for name in ("worker", "beat"):
        assert service(name)["depends_on"]["web"] == {"condition": "service_healthy"}, name


def test_the_database_creates_the_application_role_with_row_rights_only():
    postgres = service("postgres")
    assert f"./{INIT_SCRIPT.relative_to(ROOT)}:/docker-entrypoint-initdb.d/10-app-role.sh:ro" in postgres["volumes"]
    assert "POSTGRES_APP_PASSWORD" in postgres["environment"]
    script = INIT_SCRIPT.read_text()
    assert "NOSUPERUSER" in script
    assert "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO supervision_app" in script
    assert "REVOKE UPDATE, DELETE, TRUNCATE ON accounts_auditevent FROM supervision_app" in script
    granted = [line for line in script.splitlines() if line.strip().upper().startswith(("GRANT", "  GRANT"))]
    for line in granted:
        assert "TRUNCATE" not in line and "ALL PRIVILEGES" not in line and " OWNER" not in line, line
