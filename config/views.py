"""Project-wide views: the health check and the error pages."""

import os
from pathlib import Path

import redis
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from redis.backoff import NoBackoff
from redis.retry import Retry

from config.celery import app as celery_app


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone()[0] == 1
    except Exception:
        return False


# A health check answers quickly or not at all: a container orchestrator gives up after a few seconds.
BROKER_TIMEOUT = 1.0


def _broker_ok() -> bool:
    url = str(celery_app.conf.broker_url or "")
    try:
        if url.startswith(("redis://", "rediss://", "unix://")):
            return _redis_ok(url)
        if url.startswith("filesystem://"):
            return _filesystem_ok(celery_app.conf.broker_transport_options or {})
        with celery_app.connection_for_write(connect_timeout=BROKER_TIMEOUT) as conn:
            conn.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT)
        return True
    except Exception:
        return False


def _redis_ok(url: str) -> bool:
    # redis-py retries a refused connection ten times by default; one short try is the answer here.
    client = redis.Redis.from_url(
        url, socket_connect_timeout=BROKER_TIMEOUT, socket_timeout=BROKER_TIMEOUT, retry=Retry(NoBackoff(), 0)
    )
    try:
        return bool(client.ping())
    finally:
        client.close()


def _filesystem_ok(options: dict) -> bool:
    # kombu's filesystem transport "connects" to anything: what matters is that its folders are usable.
    folders = [Path(options[key]) for key in ("data_folder_in", "data_folder_out") if options.get(key)]
    return bool(folders) and all(folder.is_dir() and os.access(folder, os.W_OK) for folder in folders)


@never_cache
@require_GET
def healthz(request):
    status = {"database": "ok" if _database_ok() else "error", "broker": "ok" if _broker_ok() else "error"}
    healthy = all(v == "ok" for v in status.values())
    return JsonResponse(status, status=200 if healthy else 503)


def bad_request(request, exception=None):
    return render(request, "400.html", status=400)


def permission_denied(request, exception=None):
    message = str(exception) if exception and str(exception) else ""
    return render(request, "403.html", {"message": message}, status=403)


def page_not_found(request, exception=None):
    return render(request, "404.html", status=404)


def server_error(request):
    return render(request, "500.html", status=500)
