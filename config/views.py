"""Project-wide views: the health check and the error pages."""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone()[0] == 1
    except Exception:
        return False


def _broker_ok() -> bool:
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            # The filesystem transport "connects" to anything: check its folder is really there.
            options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
            if conn.transport_cls == "filesystem" or str(settings.CELERY_BROKER_URL).startswith("filesystem"):
                from pathlib import Path

                folder = Path(options["data_folder_in"])
                folder.mkdir(parents=True, exist_ok=True)
                return folder.is_dir()
        return True
    except Exception:
        return False


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
