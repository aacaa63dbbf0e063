import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()


def _freeze_what_is_loaded() -> None:
    """Every view loaded (the URLconf imports them, and they their libraries) and then kept out of the
    garbage collector's sight for the life of the worker process: a full collection scanned these 200,000
    long-lived objects (Django's, WeasyPrint's, pyHanko's modules) about every tenth request, about 130 ms
    in the request that set it off (issue 14). Requests still collect what they make themselves."""
    get_resolver().url_patterns  # noqa: B018 (imported for its side effect: every view module loaded)
    gc.collect()
    gc.freeze()


_freeze_what_is_loaded()
