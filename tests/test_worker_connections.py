"""A worker keeps its database connection from one task to the next, by Django's rule for requests
(config/celery.py, issue 14): kept while younger than CONN_MAX_AGE and usable, replaced when it is not.

Celery's Django fixup would close it around every task: a new PostgreSQL connection for each signed PDF,
13-15 ms of its 105. PostgreSQL and Redis only: the worker must see the test database through a broker.
"""

import time
import uuid

import pytest
from django.db import connection

from config.celery import app
from records.tasks import render_record_pdf
from tests.supervision.test_delivery_worker import REAL_WORKERS, celery, wait_for, worker, worker_environment

pytestmark = REAL_WORKERS

NO_SUCH_RECORD = 0  # the task reads the records table, finds nothing and stores nothing


@pytest.fixture
def not_eager():
    # tests/conftest.py makes tasks run in the test process; these go through Redis to the worker.
    app.conf.task_always_eager = False


def workers_backends() -> set[int]:
    """The PostgreSQL backends connected to the test database other than the test's own."""
    with connection.cursor() as cursor:
        # Read afresh: inside the test's transaction PostgreSQL would answer from its first reading.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        )
        return {pid for (pid,) in cursor.fetchall()}


def run_task(queue: str) -> None:
    render_record_pdf.apply_async((NO_SUCH_RECORD,), queue=queue).get(timeout=60)


def settled(seconds: float = 0.5) -> set[int]:
    """The workers' backends once the task's end (after its result is sent) has had time to run."""
    time.sleep(seconds)
    return workers_backends()


def test_a_worker_runs_its_tasks_on_one_connection_and_replaces_it_when_it_is_lost(db, not_eager, tmp_path):
    queue = f"connections-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    with celery(worker("connections"), worker_environment(tmp_path, queue), log) as process:
        wait_for(lambda: "ready." in log.read_text(), [process], [log], what="the worker")
        assert workers_backends() == set()
        run_task(queue)
        first = settled()
        assert len(first) == 1, "the worker's connection was closed after its task"
        for _ in range(3):
            run_task(queue)
            assert settled() == first, "a task opened a connection of its own"

        # The connection is lost between tasks (PostgreSQL restarted, or an idle timeout): the next task
        # finds it unusable before its first query, and runs on a new one.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [next(iter(first))])
        wait_for(lambda: workers_backends().isdisjoint(first), [process], [log], what="the backend to end")
        run_task(queue)
        second = settled()
        assert len(second) == 1 and second.isdisjoint(first)
        run_task(queue)
        assert settled() == second
    assert "Traceback" not in log.read_text()


def test_with_no_connection_age_a_worker_closes_its_connection_after_each_task(db, not_eager, tmp_path):
    """DATABASE_CONN_MAX_AGE=0, Django's default: closed at the end of every task, as after a request."""
    queue = f"connections-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    env = worker_environment(tmp_path, queue) | {"DATABASE_CONN_MAX_AGE": "0"}
    with celery(worker("no-reuse"), env, log) as process:
        wait_for(lambda: "ready." in log.read_text(), [process], [log], what="the worker")
        for _ in range(2):
            run_task(queue)
            wait_for(lambda: workers_backends() == set(), [process], [log], what="the connection to close")
