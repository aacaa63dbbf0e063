import os
from pathlib import Path

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("supervision")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _prepare_filesystem_broker() -> None:
    # kombu's filesystem transport needs its folders to exist before the first message.
    options = app.conf.broker_transport_options or {}
    if str(app.conf.broker_url).startswith("filesystem://"):
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            if options.get(key):
                Path(options[key]).mkdir(parents=True, exist_ok=True)
        backend = str(app.conf.result_backend or "")
        if backend.startswith("file://"):
            Path(backend.removeprefix("file://")).mkdir(parents=True, exist_ok=True)


@app.on_after_configure.connect
def _on_after_configure(sender, **kwargs):
    _prepare_filesystem_broker()


@task_prerun.connect
@task_postrun.connect
def _database_connections_as_after_a_request(task=None, **kwargs):
    """Django's rule for a request's connections, at each task's start and end: kept for the next task
    while younger than CONN_MAX_AGE and usable, checked before its first use (CONN_HEALTH_CHECKS), closed
    otherwise. Celery's own Django fixup would close them around every task (CELERY_DB_REUSE_MAX, in the
    settings, turns that off): a new PostgreSQL connection, its backend's caches cold and its prepared
    statements gone, was 13-15 ms of a signed PDF's 105 in the worker (issue 14). Not for a task run in
    the caller's process (eager, as in the tests), whose connection is the caller's."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@app.task(name="config.ping")
def ping(value: str) -> str:
    """A round trip through the broker: the health check and the tests use it."""
    return f"pong:{value}"
