"""A real worker on Redis killed mid-render (issue 17): the signed record still gets its PDF within the
sweep's interval, not after Redis's hour-long visibility timeout, and the PDF is never replaced, not even
when the killed worker's task is finally delivered again.

The workers keep real time: the sweep's lateness is shortened through PDF_LATE_AFTER_SECONDS, and the
test sends the sweep every two seconds (beat's work, sooner than beat). PostgreSQL only: the workers must
see the test database.
"""

import hashlib
import os
import re
import signal
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from accounts.models import AuditEvent
from config.celery import app
from records import pdf
from records.models import Record, RecordStatus
from records.signing import signing_material
from records.tasks import notify_decisions, notify_flag, render_record_pdf, requeue_missing_files
from tests.records.test_pdf import sign, write_record
from tests.supervision.test_delivery_worker import REAL_WORKERS, celery, wait_for, worker, worker_environment

pytestmark = REAL_WORKERS

LATE_AFTER = 10  # seconds; three minutes in production
SWEEP_EVERY = 2  # seconds; five minutes in production
HOUR = "3600"  # the production visibility timeout: the killed task is not delivered again meanwhile


@pytest.fixture
def not_eager():
    # tests/conftest.py makes tasks run in the test process; these go through Redis to the workers.
    app.conf.task_always_eager = False


def renders_received(log: Path) -> int:
    return len(re.findall(r"Task records\.render_record_pdf\[[0-9a-f-]+\] received", log.read_text()))


def renders_done(log: Path) -> int:
    return len(re.findall(r"Task records\.render_record_pdf\[[0-9a-f-]+\] succeeded", log.read_text()))


def stored(record) -> bool:
    record.refresh_from_db(fields=["pdf_path", "pdf_sha256"])
    return bool(record.pdf_path) and (Path(settings.PRIVATE_ROOT) / record.pdf_path).is_file()


# Committed data, so the workers see it; the serialized rollback (rather than a flush) leaves the tables
# as the next serialized test expects them, and puts back what migrations wrote (the beat schedule).
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_killed_mid_render_leaves_the_pdf_late_by_the_sweeps_interval_and_never_replaced(
    cast, tmp_path, not_eager, monkeypatch, settings
):
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.RECORDS_SIGNING_CERT = settings.RECORDS_SIGNING_KEY = settings.RECORDS_SIGNING_KEY_PASSPHRASE = ""
    signing_material()  # the development certificate, made before any worker could be killed writing it
    queue = f"pdfs-{uuid.uuid4().hex[:8]}"
    env = worker_environment(tmp_path, queue) | {
        "PRIVATE_ROOT": str(settings.PRIVATE_ROOT),
        "CELERY_VISIBILITY_TIMEOUT": HOUR,
        "PDF_LATE_AFTER_SECONDS": str(LATE_AFTER),
    }
    # Writing and signing queue the render and the notices on commit: to the workers' queue.
    for task in (render_record_pdf, notify_decisions, notify_flag):
        monkeypatch.setattr(task, "delay", lambda *a, task=task: task.apply_async(a, queue=queue))
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log", tmp_path / "worker3.log"]

    # The first worker's render stops at WeasyPrint and waits to be killed there: a fixed pause would
    # race the render on a fast machine.
    inside = tmp_path / "inside-the-render"
    stopping = (str(Path(__file__).with_name("render_stops_worker.py")),)
    with celery(worker("first"), env | {"RENDER_STOPS_MARKER": str(inside)}, logs[0], stopping) as first:
        wait_for(lambda: "ready." in logs[0].read_text(), [first], logs[:1], what="the first worker")
        record = sign(cast, write_record(cast))
        wait_for(inside.exists, [first], logs[:1], what="the render to reach WeasyPrint")
        assert renders_received(logs[0]) == 1
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    killed = time.monotonic()
    assert not stored(record), "the render finished before the worker was killed"
    assert record.status == RecordStatus.SIGNED

    with celery(worker("second"), env, logs[1]) as second:
        last_sweep = 0.0

        def sweep_and_check():
            nonlocal last_sweep
            if time.monotonic() - last_sweep >= SWEEP_EVERY:
                last_sweep = time.monotonic()
                requeue_missing_files.apply_async(queue=queue)
            return stored(record)

        wait_for(sweep_and_check, [second], logs[1:2], timeout=LATE_AFTER + 120, every=0.2, what="the PDF")
        available_after = time.monotonic() - killed
        first_hash = record.pdf_sha256
        # More sweeps find nothing more to do.
        for _ in range(3):
            requeue_missing_files.apply_async(queue=queue).get(timeout=60)
    queued_again = AuditEvent.objects.filter(action="record.pdf_queued_again", object_code=str(record.code))
    print(
        f"\nWorker killed mid-render; PDF available {available_after:.1f} s later (late after {LATE_AFTER} s, "
        f"swept every {SWEEP_EVERY} s); queued again {queued_again.count()} time(s)"
    )
    assert available_after < LATE_AFTER + SWEEP_EVERY + 60
    assert queued_again.count() >= 1
    assert hashlib.sha256((Path(settings.PRIVATE_ROOT) / record.pdf_path).read_bytes()).hexdigest() == first_hash

    # The killed worker's task comes back (a worker whose visibility timeout is a second restores it):
    # it finds the PDF stored and renders nothing; the stored copy and its hash stand.
    with celery(worker("third"), env | {"CELERY_VISIBILITY_TIMEOUT": "1"}, logs[2]) as third:
        wait_for(lambda: renders_done(logs[2]) >= 1, [third], logs[2:], timeout=90, every=0.5, what="the old task")
    record.refresh_from_db()
    assert record.pdf_sha256 == first_hash
    assert hashlib.sha256((Path(settings.PRIVATE_ROOT) / record.pdf_path).read_bytes()).hexdigest() == first_hash
    stored_events = AuditEvent.objects.filter(action="record.pdf_stored", object_code=str(record.code))
    assert [e.details["sha256"] for e in stored_events] == [first_hash]
    assert Record.objects.get(pk=record.pk).pdf_addenda == 0
    assert pdf.stored_pdf_path(record) is not None
