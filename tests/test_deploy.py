"""Production settings: `check --deploy` is clean with the README's values, and the product refuses to
start with DEBUG off and no real secret key. Each case is a fresh process, since settings are read once."""

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

# The production values of README.md ("Production"): keep the two in step. Nothing here connects to the
# database or the broker, so their addresses need not exist.
PRODUCTION = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": "supervision.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://supervision.example.org",
    "SITE_URL": "https://supervision.example.org",
    "BEHIND_TLS_PROXY": "1",
    "PROXY_COUNT": "1",
    "DATABASE_URL": "postgres://supervision:database-password@postgres:5432/supervision",
    "REDIS_URL": "redis://redis:6379/0",
    "EMAIL_URL": "smtp+tls://supervision:app-password@smtp.example.org:587",
    "DEFAULT_FROM_EMAIL": "Supervision <supervision@example.org>",
}
# Only what a process needs to run: nothing from the developer's shell or from other tests (the browser
# tests set DJANGO_ALLOW_ASYNC_UNSAFE, which check --deploy rightly refuses).
BASE_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {key: os.environ[key] for key in BASE_ENVIRONMENT if key in os.environ}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_values():
    result = manage("check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=secrets.token_urlsafe(50), **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "secret_key",
    [None, "", settings.DEVELOPMENT_SECRET_KEY],
    ids=["unset", "empty", "development key"],
)
def test_refuses_to_start_without_a_secret_key_when_debug_is_off(secret_key):
    env = dict(PRODUCTION)
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key
    result = manage("check", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "set SECRET_KEY" in result.stderr


def test_the_development_key_is_only_a_default_while_debugging():
    # The same command runs with DEBUG on, so the refusal above is about the key and nothing else.
    result = manage("check", DEBUG="1")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_web_worker_keeps_what_it_loaded_out_of_the_garbage_collectors_sight():
    # gunicorn imports config.wsgi in each worker: every view is loaded and frozen there, so a full
    # collection no longer rescans Django's and the libraries' objects in the middle of a request.
    script = (
        "import gc, sys\n"
        "import config.wsgi\n"
        "print(gc.get_freeze_count())\n"
        "print('records.views.home' in sys.modules, 'supervision.views.dashboard' in sys.modules)\n"
    )
    environment = {key: os.environ[key] for key in BASE_ENVIRONMENT if key in os.environ}
    environment.update(SECRET_KEY=secrets.token_urlsafe(50), **PRODUCTION)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=settings.BASE_DIR, env=environment, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    frozen, loaded = result.stdout.split("\n")[:2]
    assert int(frozen) > 50_000
    assert loaded == "True True"
