"""Nothing lost, nothing doubled (issue 17): a signed record's PDF is stored once and never replaced, an
addendum's copy is kept beside the first, a late render is queued again by the sweep (once, however many
sweeps and downloads ask), and the record page says how long the wait is."""

import hashlib
import importlib
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.apps import apps as django_apps
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.models import AuditEvent
from config import beat
from records import exports, late_files, pdf, services
from records.models import ExportJob, Record
from records.tasks import requeue_missing_files
from tests.factories import PASSWORD
from tests.records.helpers import held_session
from tests.records.test_pdf import sign, write_record


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path):
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.RECORDS_SIGNING_CERT = settings.RECORDS_SIGNING_KEY = settings.RECORDS_SIGNING_KEY_PASSPHRASE = ""
    return settings.PRIVATE_ROOT


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored_events(record) -> list[dict]:
    events = AuditEvent.objects.filter(action="record.pdf_stored", object_code=str(record.code)).order_by("id")
    return [e.details for e in events]


@pytest.fixture
def record(cast) -> Record:
    return sign(cast, write_record(cast))


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """The renders the code under test queues (the record ids), instead of running them."""
    calls = []
    monkeypatch.setattr(late_files.render_record_pdf, "delay", calls.append)
    return calls


@pytest.fixture
def sweep(django_capture_on_commit_callbacks):
    """The PDF sweep, its transaction's on-commit callbacks (the queued renders) run as on a commit."""

    def run():
        with django_capture_on_commit_callbacks(execute=True):
            return late_files.requeue_missing_pdfs()

    return run


def make_late(record, minutes=4):
    Record.objects.filter(pk=record.pk).update(pdf_queued_at=timezone.now() - timedelta(minutes=minutes))


# --- Stored once -----------------------------------------------------------------------------------


def test_a_download_during_the_workers_render_stores_once_and_the_workers_copy_is_discarded(
    cast, record, login, monkeypatch, private_root, django_capture_on_commit_callbacks
):
    """The finding: the worker's job is slow (killed and redelivered, or just late); someone opens /pdf,
    which has it made; the original job comes back later. The first stored file and its hash stand."""
    make_late(record)
    real_render = pdf.render_record_pdf_bytes
    renders, downloads = [], []

    def render(r, **options):
        data = real_render(r, **options)
        renders.append(r.pk)
        if len(renders) == 1:
            # While the worker's job renders, the supervisee asks for the PDF: the view queues a render
            # (Celery is eager here) which stores first.
            with django_capture_on_commit_callbacks(execute=True):
                downloads.append(login(cast.supervisee).get(reverse("records:record-pdf", args=[r.code])))
        return data

    monkeypatch.setattr(pdf, "render_record_pdf_bytes", render)
    workers = pdf.store_record_pdf(record.id)
    record.refresh_from_db()

    assert len(renders) == 2 and downloads[0].status_code == 302
    (event,) = stored_events(record)  # one copy stored, by the download's run
    assert workers == private_root / record.pdf_path
    assert sha256(workers) == record.pdf_sha256 == event["sha256"]
    first_hash = record.pdf_sha256

    # The original message delivered again an hour later renders nothing, stores nothing.
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        assert pdf.store_record_pdf(record.id) == workers
    assert len(renders) == 2
    response = login(cast.supervisee).get(reverse("records:record-pdf", args=[record.code]))
    assert hashlib.sha256(b"".join(response.streaming_content)).hexdigest() == first_hash
    record.refresh_from_db()
    assert record.pdf_sha256 == first_hash and len(stored_events(record)) == 1


def test_two_runs_at_once_keep_the_first_stored_copy(record, monkeypatch, private_root):
    real_render = pdf.render_record_pdf_bytes
    other = []

    def render(r, **options):
        data = real_render(r, **options)
        if not other:
            other.append(None)
            other[0] = pdf.store_record_pdf(r.pk)  # the other run, started later, stores first
        return data

    monkeypatch.setattr(pdf, "render_record_pdf_bytes", render)
    first_bytes_seen = pdf.store_record_pdf(record.id)
    record.refresh_from_db()
    assert first_bytes_seen == other[0]
    assert [e["sha256"] for e in stored_events(record)] == [record.pdf_sha256] == [sha256(other[0])]


def test_an_addendum_makes_a_new_document_beside_the_first(cast, record, private_root):
    first = pdf.store_record_pdf(record.id)
    first_hash = sha256(first)
    addendum = services.addendum_add(actor=cast.supervisor, record=record, text="The course is booked.")
    services.addendum_sign(actor=cast.supervisor, addendum=addendum, password=PASSWORD)
    services.addendum_sign(actor=cast.supervisee, addendum=addendum, password=PASSWORD)

    second = pdf.store_record_pdf(record.id)
    assert pdf.store_record_pdf(record.id) == second  # and only once
    record.refresh_from_db()
    assert second.name == f"{record.code}-addendum-1.pdf" and second.parent == first.parent
    assert record.pdf_path == str(second.relative_to(private_root)) and record.pdf_addenda == 1
    assert sha256(first) == first_hash  # the first document is still there, unchanged
    assert [(e["addenda"], e["sha256"]) for e in stored_events(record)] == [(0, first_hash), (1, sha256(second))]


def test_a_lost_file_is_made_again_and_the_audit_says_which_copy_it_follows(record, private_root):
    first = pdf.store_record_pdf(record.id)
    record.refresh_from_db()
    lost = record.pdf_sha256
    first.unlink()
    again = pdf.store_record_pdf(record.id)
    assert again == first and again.is_file()
    assert stored_events(record)[-1]["replaces_lost_copy"] == lost


# --- The sweep -------------------------------------------------------------------------------------


def test_the_sweep_queues_a_late_pdf_once_however_often_it_runs(cast, record, queued, sweep):
    # Just signed: the worker has it; nothing to do yet.
    assert sweep() == 0
    with time_machine.travel(timezone.now() + timedelta(minutes=4), tick=False):
        assert sweep() == 1
        assert sweep() == 0  # a second sweep (or a download) finds it queued
    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=False):
        assert sweep() == 0
    with time_machine.travel(timezone.now() + timedelta(minutes=8), tick=False):
        assert sweep() == 1  # that run was lost too: once more
    assert queued == [record.id, record.id]
    events = AuditEvent.objects.filter(action="record.pdf_queued_again", object_code=str(record.code))
    assert [e.details["why"] for e in events] == ["late", "late"]


def test_the_sweep_leaves_stored_pdfs_alone_and_finds_an_addendums(cast, record, queued, sweep):
    pdf.store_record_pdf(record.id)
    make_late(record, minutes=60)
    assert sweep() == 0
    addendum = services.addendum_add(actor=cast.supervisor, record=record, text="One more thing.")
    services.addendum_sign(actor=cast.supervisor, addendum=addendum, password=PASSWORD)
    services.addendum_sign(actor=cast.supervisee, addendum=addendum, password=PASSWORD)
    assert sweep() == 0  # just queued by the addendum's lock
    make_late(record)
    assert sweep() == 1 and queued == [record.id]


def test_a_draft_is_never_queued(cast, queued, sweep):
    write_record(cast)
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        assert sweep() == 0


def late_signed_records(cast, n):
    """n signed records (fields set directly: signing through the services costs a second each)."""
    records = []
    for _ in range(n):
        days_ago = 5 + Record.objects.count()
        record = services.record_start(actor=cast.supervisor, session=held_session(cast, days_ago=days_ago))
        Record.objects.filter(pk=record.pk).update(
            status="signed", locked_at=timezone.now(), content_hash="0" * 64,
            pdf_queued_at=timezone.now() - timedelta(minutes=10),
        )  # fmt: skip
        records.append(record)
    return records


def test_the_sweeps_queries_do_not_grow_with_the_late_records(cast, queued, sweep):
    late_signed_records(cast, 1)
    with CaptureQueriesContext(connection) as one:
        assert sweep() == 1
    late_signed_records(cast, 3)
    with CaptureQueriesContext(connection) as three:
        assert sweep() == 3
    assert len(one) == len(three)
    assert len(queued) == 4


def test_the_task_sweeps_pdfs_and_exports(cast, record, queued, django_capture_on_commit_callbacks):
    make_late(record)
    with django_capture_on_commit_callbacks(execute=True):
        assert requeue_missing_files() == {"pdfs": 1, "exports": 0}
    assert queued == [record.id]


# --- Exports ---------------------------------------------------------------------------------------


def job(cast, *, status, queued_minutes_ago, heartbeat_minutes_ago=None, expires_in=timedelta(days=7)):
    now = timezone.now()
    return ExportJob.objects.create(
        organisation=cast.organisation, requested_by=cast.auditor, kind=ExportJob.Kind.AUDIT_ZIP, status=status,
        queued_at=now - timedelta(minutes=queued_minutes_ago), expires_at=now + expires_in,
        heartbeat_at=now - timedelta(minutes=heartbeat_minutes_ago) if heartbeat_minutes_ago is not None else None,
    )  # fmt: skip


def test_a_lost_export_is_queued_again_once(cast, monkeypatch, django_capture_on_commit_callbacks):
    calls = []
    monkeypatch.setattr("records.tasks.run_export.delay", calls.append)
    lost = job(cast, status=ExportJob.Status.QUEUED, queued_minutes_ago=6)
    died = job(cast, status=ExportJob.Status.RUNNING, queued_minutes_ago=30, heartbeat_minutes_ago=6)
    job(cast, status=ExportJob.Status.QUEUED, queued_minutes_ago=1)  # just queued
    job(cast, status=ExportJob.Status.RUNNING, queued_minutes_ago=30, heartbeat_minutes_ago=0)  # working
    job(cast, status=ExportJob.Status.DONE, queued_minutes_ago=30)
    job(cast, status=ExportJob.Status.QUEUED, queued_minutes_ago=30, expires_in=-timedelta(minutes=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert late_files.requeue_late_exports() == 2
        assert late_files.requeue_late_exports() == 0
    assert sorted(calls) == sorted([lost.pk, died.pk])
    assert AuditEvent.objects.filter(action="export.queued_again").count() == 2


def test_a_running_export_writes_its_heartbeat(cast):
    running = job(cast, status=ExportJob.Status.QUEUED, queued_minutes_ago=1)
    claimed = exports._claim(running.pk)
    exports._progress(claimed, 3, 10)
    running.refresh_from_db()
    assert running.status == ExportJob.Status.RUNNING and running.done == 3
    assert timezone.now() - running.heartbeat_at < timedelta(seconds=5)


# --- What the page says ----------------------------------------------------------------------------


def page(client, record) -> str:
    return " ".join(client.get(reverse("records:record-detail", args=[record.code])).content.decode().split())


def test_the_page_says_since_when_and_by_when(cast, record, login, queued, django_capture_on_commit_callbacks):
    client = login(cast.supervisee)
    since = timezone.localtime(record.locked_at)
    ready_by = since + late_files.PDF_LATE_AFTER + late_files.SWEEP_EVERY + late_files.RENDER_ALLOWANCE
    text = page(client, record)
    assert f"The signed PDF is being prepared since {since:%H:%M}; it will be ready by {ready_by:%H:%M}" in text

    response = client.get(reverse("records:record-pdf", args=[record.code]))
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert f"ready by {ready_by:%H:%M} at the latest" in message and "Try again in a minute" not in message
    assert queued == []  # not late: the worker has it

    with (
        time_machine.travel(timezone.now() + timedelta(minutes=20), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert "The signed PDF is late: awaited since" in page(client, record)
        response = client.get(reverse("records:record-pdf", args=[record.code]))
        (message,) = [str(m) for m in get_messages(response.wsgi_request)]
        later = timezone.localtime() + late_files.PDF_LATE_AFTER + late_files.SWEEP_EVERY + late_files.RENDER_ALLOWANCE
        assert f"ready by {later:%H:%M} at the latest" in message  # queued again just now
        client.get(reverse("records:record-pdf", args=[record.code]))
    assert queued == [record.id]  # the downloads queued it again, once


def add_addendum(cast, record, text):
    addendum = services.addendum_add(actor=cast.supervisor, record=record, text=text)
    services.addendum_sign(actor=cast.supervisor, addendum=addendum, password=PASSWORD)
    services.addendum_sign(actor=cast.supervisee, addendum=addendum, password=PASSWORD)


def test_the_pages_queries_do_not_grow_with_addenda(cast, record, login):
    client = login(cast.supervisee)
    add_addendum(cast, record, "One.")
    with CaptureQueriesContext(connection) as before:
        page(client, record)
    add_addendum(cast, record, "Two.")
    add_addendum(cast, record, "Three.")
    with CaptureQueriesContext(connection) as after:
        text = page(client, record)
    assert "The signed PDF is being prepared since" in text
    assert len(before) == len(after)


def test_the_migration_installs_the_sweep_every_five_minutes_once(db):
    task = PeriodicTask.objects.select_related("interval").get(name="records: queue late PDFs and exports again")
    assert task.task == "records.requeue_missing_files" and task.enabled
    assert (task.interval.every, task.interval.period) == (int(late_files.SWEEP_EVERY.total_seconds() // 60), "minutes")
    migration = importlib.import_module("records.migrations.0010_pdf_and_export_sweep_schedule")
    beat.install(django_apps, migration.TASKS)
    assert PeriodicTask.objects.filter(task="records.requeue_missing_files").count() == 1


def test_the_migration_marks_stored_pdfs_with_the_addenda_they_show(cast, record):
    Record.objects.filter(pk=record.pk).update(pdf_path="records/x/y.pdf", pdf_sha256="0" * 64)
    add_addendum(cast, record, "Shown in the file the old code redid.")
    migration = importlib.import_module("records.migrations.0010_pdf_and_export_sweep_schedule")
    migration.stored_pdfs_show_their_addenda(django_apps, None)
    record.refresh_from_db()
    assert record.pdf_addenda == 1
