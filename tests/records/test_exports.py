"""Exports at /exports/: the auditor's ZIP of signed PDFs with its manifest, the subject access export,
the job runner (progress, idempotence, failures) and who reaches a job, its progress and its file."""

import csv
import hashlib
import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Role
from records import exports, services
from records.builtin import ensure_builtin_templates
from records.exports import run_export
from records.models import AuditorGrant, ExportJob, Record, RecordStatus
from records.oversight import auditor_grant_create, auditor_grant_revoke
from records.pdf import store_record_pdf
from supervision import services as supervision_services
from supervision.models import Contract, Session, SessionKind, SessionStatus
from supervision.notify import notify
from tests.factories import PASSWORD, StaffFactory
from tests.supervision.helpers import at, signed_contract

from .helpers import approve_grant, hold_back_export_renders, signed_record, written_record


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path):
    settings.PRIVATE_ROOT = tmp_path / "private"
    # A development signing pair is made under PRIVATE_ROOT for the few real PDFs.
    settings.RECORDS_SIGNING_CERT = settings.RECORDS_SIGNING_KEY = settings.RECORDS_SIGNING_KEY_PASSPHRASE = ""
    return settings.PRIVATE_ROOT


# --- Builders ----------------------------------------------------------------------------------------


def make_grant(cast, *, auditor=None, settings=None, expires_in=timedelta(days=30)) -> AuditorGrant:
    """A grant made as the organisation admin makes one; `expires_in` below zero makes an ended one."""
    today = timezone.localdate()
    grant = auditor_grant_create(
        actor=cast.org_admin,
        auditor=auditor or cast.auditor,
        settings=settings or [cast.primary],
        covers_from=today - timedelta(days=365),
        covers_until=today,
        expires_at=timezone.now() + max(expires_in, timedelta(days=1)),
        purpose="Ofsted inspection",
    )
    grant = approve_grant(cast, grant)  # issue 11: the second person approves
    if expires_in <= timedelta(0):
        AuditorGrant.objects.filter(pk=grant.pk).update(expires_at=timezone.now() + expires_in)
    return grant


def revoke(cast, grant):
    auditor_grant_revoke(actor=cast.org_admin, grant=grant)


def fake_signed_records(cast, count, *, supervisee=None, supervisor=None, first_day_ago=5) -> list[Record]:
    """Signed records made straight in the database, each with a small stand-in PDF stored where
    `store_record_pdf` would put it and its SHA-256 recorded: rendering 200 real PDFs takes minutes."""
    supervisee = supervisee or cast.supervisee
    supervisor = supervisor or cast.supervisor
    contract = Contract.objects.filter(supervisee=supervisee, supervisor=supervisor, end_date__isnull=True).first()
    contract = contract or signed_contract(supervisee, supervisor)
    version = ensure_builtin_templates(cast.organisation)["kcc-1-1"].current_version()
    today = timezone.localdate()
    sessions = Session.objects.bulk_create(
        [
            Session(
                organisation=cast.organisation,
                setting=supervisee.settings.first(),
                kind=SessionKind.ONE_TO_ONE,
                contract=contract,
                supervisor=supervisor,
                starts_at=at(today - timedelta(days=first_day_ago + i), 10),
                ends_at=at(today - timedelta(days=first_day_ago + i), 10, 30),
                status=SessionStatus.HELD,
            )
            for i in range(count)
        ]
    )
    Session.attendees.through.objects.bulk_create(
        [Session.attendees.through(session_id=s.id, staffmember_id=supervisee.id) for s in sessions]
    )
    root = Path(exports.settings.PRIVATE_ROOT)
    now = timezone.now()
    records = []
    for session in sessions:
        record = Record(
            organisation=cast.organisation,
            session=session,
            template_version=version,
            supervisor=supervisor,
            status=RecordStatus.SIGNED,
            locked_at=now,
            content_hash=hashlib.sha256(f"content of {session.code}".encode()).hexdigest(),
        )
        data = b"%PDF-1.7\n% stand-in for the signed record " + str(record.code).encode() + b"\n%%EOF\n"
        relative = Path("records") / str(cast.organisation.code) / f"{record.code}.pdf"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
        record.pdf_path, record.pdf_sha256 = str(relative), hashlib.sha256(data).hexdigest()
        record.pdf_generated_at = now
        records.append(record)
    return Record.objects.bulk_create(records)


def start(client, capture, data) -> ExportJob:
    """POST to /exports/ and run the queued task (Celery is eager in tests) when the request commits."""
    with capture(execute=True):
        response = client.post(reverse("records:export-list"), data)
    assert response.status_code == 302, response.content.decode()[:500]
    job = ExportJob.objects.latest("created_at")
    assert response["Location"] == reverse("records:export-status", kwargs={"code": job.code})
    return job


def download(client, job):
    return client.get(reverse("records:export-download", kwargs={"code": job.code}))


def status(client, job, **headers):
    return client.get(reverse("records:export-status", kwargs={"code": job.code}), **headers)


def read_zip(response) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def manifest_rows(archive) -> list[dict]:
    return list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))


@pytest.fixture
def audit_job(cast, login, django_capture_on_commit_callbacks):
    """A finished audit export of five records, owned by the cast's auditor."""
    grant = make_grant(cast)
    fake_signed_records(cast, 5)
    job = start(login(cast.auditor), django_capture_on_commit_callbacks, {"kind": "audit_zip", "grant": grant.code})
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE
    return job


# --- The auditor's ZIP -------------------------------------------------------------------------------


def test_an_export_of_200_records_gives_200_pdfs_and_a_manifest_whose_hashes_match(
    cast, login, django_capture_on_commit_callbacks, monkeypatch
):
    # Two real signed records: one with its PDF stored, one whose PDF the export has to make.
    stored = signed_record(cast, days_ago=2)
    store_record_pdf(stored.id)
    unstored = signed_record(cast, days_ago=3)
    assert not unstored.pdf_path
    bulk = fake_signed_records(cast, 198, first_day_ago=4)
    # Outside the grant: another setting's signed record, and a draft inside it.
    outside = fake_signed_records(cast, 1, supervisee=cast.supervisee2, supervisor=cast.supervisor2)[0]
    draft = written_record(cast, days_ago=300)
    grant = make_grant(cast)

    seen_progress = []
    real_signed_pdf = exports._signed_pdf

    def watching(record):
        seen_progress.append(ExportJob.objects.values_list("done", "total").get())
        return real_signed_pdf(record)

    monkeypatch.setattr(exports, "_signed_pdf", watching)
    job = start(login(cast.auditor), django_capture_on_commit_callbacks, {"kind": "audit_zip", "grant": grant.code})

    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.error) == (ExportJob.Status.DONE, 200, 200, "")
    # The bar moved while the job ran: every ten records, with the total known from the start.
    assert seen_progress[0] == (0, 200)
    assert [done for done, _ in seen_progress] == sorted(done for done, _ in seen_progress)
    assert {10, 100, 190} <= {done for done, _ in seen_progress}
    assert job.file_path == f"exports/{cast.organisation.code}/{job.code}.zip"
    assert job.expires_at == job.created_at + timedelta(days=7)

    response = download(login(cast.auditor), job)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == job.sha256
    archive = zipfile.ZipFile(io.BytesIO(body))

    pdfs = [n for n in archive.namelist() if n.startswith("records/")]
    assert len(pdfs) == 200 and all(n.endswith(".pdf") for n in pdfs)
    rows = manifest_rows(archive)
    assert len(rows) == 200
    assert {r["file"] for r in rows} == set(pdfs)
    records = {str(r.code): r for r in Record.objects.filter(pk__in=[stored.pk, unstored.pk, *(r.pk for r in bulk)])}
    assert {r["record_code"] for r in rows} == set(records)
    for row in rows:
        record = records[row["record_code"]]
        assert row["pdf_sha256"] == hashlib.sha256(archive.read(row["file"])).hexdigest()
        # The copy in the ZIP is the stored one, so /records/verify/ says it is intact.
        assert row["pdf_sha256"] == record.pdf_sha256
        assert row["content_sha256"] == record.content_hash
        assert row["supervisee"] == "Sid Supervisee" and row["supervisor"] == "Sam Supervisor"
        assert row["setting"] == "Cast Primary"
        starts = timezone.localtime(record.session.starts_at)
        assert row["session_date"] == f"{starts:%a %-d %b %Y}"  # the weekday with the date (issue 16)
        assert row["file"] == f"records/{starts.date().isoformat()}-sid-supervisee-{record.code}.pdf"
    # The real PDFs are real: the one the export made was stored like any other.
    unstored.refresh_from_db()
    assert unstored.pdf_path and archive.read(f"records/{timezone.localdate() - timedelta(days=3)}-sid-supervisee-"
                                              f"{unstored.code}.pdf").startswith(b"%PDF-")  # fmt: skip
    assert str(outside.code) not in body.decode("latin-1")
    assert str(draft.code) not in body.decode("latin-1")
    assert "README.txt" in archive.namelist()

    # Requested, completed and downloaded are all in the audit trail.
    events = AuditEvent.objects.filter(object_type="exportjob", object_code=str(job.code))
    assert {e.action for e in events} == {"export.requested", "export.completed", "export.downloaded"}
    downloaded = events.get(action="export.downloaded")
    assert downloaded.actor == cast.auditor.user and downloaded.details["grant"] == str(grant.code)


def test_every_download_is_logged(cast, login, audit_job):
    client = login(cast.auditor)
    for _ in range(3):
        assert download(client, audit_job).status_code == 200
    events = AuditEvent.objects.filter(action="export.downloaded", object_code=str(audit_job.code))
    assert events.count() == 3
    assert all(e.actor == cast.auditor.user for e in events)


def test_a_stored_pdf_that_no_longer_matches_its_hash_is_stored_again(cast, login, django_capture_on_commit_callbacks):
    record = signed_record(cast)
    store_record_pdf(record.id)
    record.refresh_from_db()
    path = Path(exports.settings.PRIVATE_ROOT) / record.pdf_path
    path.write_bytes(path.read_bytes().replace(b"%%EOF", b"%%EOF\n% changed"))
    grant = make_grant(cast)

    job = start(login(cast.auditor), django_capture_on_commit_callbacks, {"kind": "audit_zip", "grant": grant.code})

    record.refresh_from_db()
    archive = read_zip(download(login(cast.auditor), job))
    (row,) = manifest_rows(archive)
    assert row["pdf_sha256"] == record.pdf_sha256 == hashlib.sha256(archive.read(row["file"])).hexdigest()
    assert row["pdf_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_empty_grant_gives_a_manifest_with_no_rows(cast, login, django_capture_on_commit_callbacks):
    grant = make_grant(cast, settings=[cast.secondary])
    job = start(login(cast.auditor), django_capture_on_commit_callbacks, {"kind": "audit_zip", "grant": grant.code})
    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.percent) == (ExportJob.Status.DONE, 0, 0, 100)
    assert manifest_rows(read_zip(download(login(cast.auditor), job))) == []


# --- Who reaches a job -------------------------------------------------------------------------------


def test_the_owner_sees_progress_and_downloads(cast, login, audit_job):
    client = login(cast.auditor)
    page = status(client, audit_job).content.decode()
    assert 'role="progressbar"' in page and 'aria-valuenow="100"' in page
    assert reverse("records:export-download", kwargs={"code": audit_job.code}) in page
    assert 'hx-trigger="every 1s"' not in page  # done: no more polling
    listing = client.get(reverse("records:export-list")).content.decode()
    assert reverse("records:export-download", kwargs={"code": audit_job.code}) in listing


@pytest.mark.parametrize(
    "who", ["another_auditor", "supervisee", "head", "org_admin", "outsider", "expired_grant", "revoked_grant"]
)
def test_someone_outside_the_grant_gets_404(cast, login, audit_job, who):
    staff = cast.auditor
    if who == "another_auditor":
        staff = StaffFactory(organisation=cast.organisation, settings=[cast.primary], roles=[(Role.AUDITOR, None)])
        make_grant(cast, auditor=staff)  # a live grant of their own changes nothing
    elif who == "expired_grant":
        AuditorGrant.objects.filter(pk=audit_job.grant_id).update(expires_at=timezone.now() - timedelta(minutes=1))
    elif who == "revoked_grant":
        revoke(cast, audit_job.grant)
    elif who != "auditor":
        staff = getattr(cast, who)
    client = login(staff)
    assert status(client, audit_job).status_code == 404
    assert status(client, audit_job, HTTP_HX_REQUEST="true").status_code == 404
    assert download(client, audit_job).status_code == 404
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()


def test_a_job_whose_grant_ended_is_listed_without_a_link(cast, login, audit_job):
    revoke(cast, audit_job.grant)
    page = login(cast.auditor).get(reverse("records:export-list")).content.decode()
    assert "no longer yours to download" in page
    assert reverse("records:export-download", kwargs={"code": audit_job.code}) not in page
    assert reverse("records:export-status", kwargs={"code": audit_job.code}) not in page


def test_an_expired_export_is_404_and_says_so(cast, login, audit_job):
    ExportJob.objects.filter(pk=audit_job.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    client = login(cast.auditor)
    response = download(client, audit_job)
    assert response.status_code == 404
    assert "This export expired on" in response.content.decode()
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()
    page = client.get(reverse("records:export-list")).content.decode()
    assert "Expired" in page
    assert reverse("records:export-download", kwargs={"code": audit_job.code}) not in page


def test_expired_files_are_deleted(cast, audit_job):
    path = Path(exports.settings.PRIVATE_ROOT) / audit_job.file_path
    assert exports.delete_expired_export_files() == 0 and path.is_file()
    assert exports.delete_expired_export_files(now=audit_job.expires_at + timedelta(seconds=1)) == 1
    assert not path.exists()
    audit_job.refresh_from_db()
    assert audit_job.file_path == ""
    event = AuditEvent.objects.get(action="export.file_deleted")
    assert event.object_code == str(audit_job.code) and event.organisation_id == audit_job.organisation_id
    # A second sweep finds nothing more to delete and writes nothing.
    assert exports.delete_expired_export_files(now=audit_job.expires_at + timedelta(days=1)) == 0
    assert AuditEvent.objects.filter(action="export.file_deleted").count() == 1


def test_the_hourly_sweep_is_installed_and_deletes_through_the_worker(cast, audit_job):
    from django_celery_beat.models import PeriodicTask

    from records.tasks import delete_expired_exports

    task = PeriodicTask.objects.select_related("crontab").get(name="records: delete expired exports")
    assert task.task == "records.delete_expired_exports" and task.crontab.minute == "20"
    assert str(task.crontab.timezone) == "Europe/London" and task.crontab.hour == "*"
    ExportJob.objects.filter(pk=audit_job.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert delete_expired_exports.delay().get() == 1


def test_a_job_not_done_polls_and_cannot_be_downloaded(cast, login):
    grant = make_grant(cast)
    client = login(cast.auditor)
    # The test's transaction never commits, so the task stays queued.
    response = client.post(reverse("records:export-list"), {"kind": "audit_zip", "grant": grant.code})
    job = ExportJob.objects.get()
    assert response.status_code == 302 and job.status == ExportJob.Status.QUEUED
    partial = status(client, job, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-get="{}"'.format(reverse("records:export-status", kwargs={"code": job.code})) in partial
    assert 'hx-trigger="every 1s"' in partial and 'aria-valuenow="0"' in partial
    assert "<html" not in partial
    assert "<html" in status(client, job).content.decode()
    response = download(client, job)
    assert response.status_code == 404 and "not ready" in response.content.decode()
    # A second click while it waits returns the same job rather than queueing another.
    client.post(reverse("records:export-list"), {"kind": "audit_zip", "grant": grant.code})
    assert ExportJob.objects.count() == 1
    assert AuditEvent.objects.filter(action="export.requested").count() == 1


@pytest.mark.parametrize(("name", "method"), [("export-status", "post"), ("export-download", "post")])
def test_wrong_methods_are_refused(cast, login, audit_job, name, method):
    client = login(cast.auditor)
    response = getattr(client, method)(reverse(f"records:{name}", kwargs={"code": audit_job.code}))
    assert response.status_code == 405


@pytest.mark.parametrize("method", ["put", "delete"])
def test_the_list_refuses_other_methods(cast, login, method):
    assert getattr(login(cast.org_admin), method)(reverse("records:export-list")).status_code == 405


# --- The page and its offers -------------------------------------------------------------------------


def test_the_page_offers_what_the_role_allows(cast, login):
    make_grant(cast)
    url = reverse("records:export-list")
    auditor = login(cast.auditor).get(url).content.decode()
    assert "Export the signed records of this grant" in auditor and "Subject access export" not in auditor
    admin = login(cast.org_admin).get(url).content.decode()
    assert "Subject access export" in admin and "Export the signed records" not in admin
    assert cast.supervisee.email in admin and cast.outsider_staff.email not in admin
    head = login(cast.head).get(url).content.decode()
    assert reverse("supervision:compliance-csv") in head and "Subject access export" not in head
    supervisee = login(cast.supervisee).get(url).content.decode()
    assert "Nothing to export here" in supervisee
    assert reverse("supervision:compliance-csv") not in supervisee


def test_an_auditor_without_a_live_grant_is_offered_nothing(cast, login):
    make_grant(cast, expires_in=timedelta(minutes=-1))
    page = login(cast.auditor).get(reverse("records:export-list")).content.decode()
    assert "Export the signed records" not in page and "Nothing to export here" in page


@pytest.mark.parametrize(
    ("who", "data"),
    [
        ("supervisee", {"kind": "audit_zip"}),
        ("head", {"kind": "subject_access"}),
        ("auditor", {"kind": "subject_access"}),
        ("supervisor", {}),
    ],
)
def test_starting_an_export_the_role_does_not_offer_is_403(cast, login, who, data):
    data = {**data, "subject": cast.supervisee.code}
    assert login(getattr(cast, who)).post(reverse("records:export-list"), data).status_code == 403
    assert not ExportJob.objects.exists()


def test_a_grant_or_a_person_out_of_reach_is_not_a_choice(cast, login):
    other_auditor = StaffFactory(organisation=cast.organisation, settings=[cast.primary], roles=[(Role.AUDITOR, None)])
    theirs = make_grant(cast, auditor=other_auditor)
    make_grant(cast)
    url = reverse("records:export-list")
    response = login(cast.auditor).post(url, {"kind": "audit_zip", "grant": theirs.code})
    assert response.status_code == 200 and "That grant has ended or was revoked." in response.content.decode()
    response = login(cast.org_admin).post(url, {"kind": "subject_access", "subject": cast.outsider_staff.code})
    assert response.status_code == 200 and "Choose someone you manage." in response.content.decode()
    assert not ExportJob.objects.exists()


# --- The job runner ----------------------------------------------------------------------------------


def test_a_job_already_done_is_not_redone(cast, audit_job):
    path = Path(exports.settings.PRIVATE_ROOT) / audit_job.file_path
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    run_export(audit_job.id)
    audit_job.refresh_from_db()
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert hashlib.sha256(before[0]).hexdigest() == audit_job.sha256
    assert AuditEvent.objects.filter(action="export.completed").count() == 1


def test_a_rerun_after_a_crash_starts_over_cleanly(cast, audit_job):
    # As a worker lost half-way leaves it: running, part done, no file, a stray partial file.
    final = Path(exports.settings.PRIVATE_ROOT) / audit_job.file_path
    final.unlink()
    stray = final.parent / f".{audit_job.code}-crashed.part"
    stray.write_bytes(b"half a zip")
    ExportJob.objects.filter(pk=audit_job.pk).update(status=ExportJob.Status.RUNNING, done=3, sha256="", file_path="")

    run_export(audit_job.id)

    audit_job.refresh_from_db()
    assert (audit_job.status, audit_job.done, audit_job.total) == (ExportJob.Status.DONE, 5, 5)
    data = final.read_bytes()
    assert hashlib.sha256(data).hexdigest() == audit_job.sha256
    assert len(manifest_rows(zipfile.ZipFile(io.BytesIO(data)))) == 5
    # Its own temporary file is gone; only the crashed run's leftover remains for the sweep.
    assert sorted(p.name for p in final.parent.iterdir()) == sorted([final.name, stray.name])


def test_a_failure_is_recorded_and_a_rerun_recovers(cast, login, monkeypatch, django_capture_on_commit_callbacks):
    grant = make_grant(cast)
    (record,) = fake_signed_records(cast, 1)
    missing = Path(exports.settings.PRIVATE_ROOT) / record.pdf_path
    missing.unlink()
    # The renderer is down: nothing gets stored.
    monkeypatch.setattr(exports, "store_record_pdf", lambda record_id: None)
    job = start(login(cast.auditor), django_capture_on_commit_callbacks, {"kind": "audit_zip", "grant": grant.code})
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED
    assert job.error == f"The PDF of record {record.code} could not be made. Try again later."
    assert job.finished_at is not None and not job.file_path
    # No file and no leftover.
    assert [p for p in (Path(exports.settings.PRIVATE_ROOT) / "exports").rglob("*") if p.is_file()] == []
    page = status(login(cast.auditor), job).content.decode()
    assert "could not be made" in page and 'hx-trigger="every 1s"' not in page

    def store(record_id):
        missing.write_bytes(b"%PDF-1.7 again")
        Record.objects.filter(pk=record_id).update(pdf_sha256=hashlib.sha256(b"%PDF-1.7 again").hexdigest())

    monkeypatch.setattr(exports, "store_record_pdf", store)
    run_export(job.id)
    job.refresh_from_db()
    assert (job.status, job.error, job.done) == (ExportJob.Status.DONE, "", 1)


def test_an_unexpected_error_fails_the_job_without_details(cast, audit_job, monkeypatch):
    ExportJob.objects.filter(pk=audit_job.pk).update(status=ExportJob.Status.QUEUED)
    monkeypatch.setattr(exports, "_archive_name", lambda record: 1 / 0)
    run_export(audit_job.id)
    audit_job.refresh_from_db()
    assert audit_job.status == ExportJob.Status.FAILED
    assert "ZeroDivision" not in audit_job.error and "logged" in audit_job.error


def test_a_grant_revoked_before_the_job_runs_exports_nothing(cast, login):
    grant = make_grant(cast)
    fake_signed_records(cast, 2)
    login(cast.auditor).post(reverse("records:export-list"), {"kind": "audit_zip", "grant": grant.code})
    job = ExportJob.objects.get()
    revoke(cast, grant)
    run_export(job.id)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED and "revoked" in job.error and not job.file_path


def test_a_job_that_expired_in_the_queue_does_not_run(cast, login):
    grant = make_grant(cast)
    login(cast.auditor).post(reverse("records:export-list"), {"kind": "audit_zip", "grant": grant.code})
    job = ExportJob.objects.get()
    ExportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now())
    run_export(job.id)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED and job.error == "It expired before it could run."


# --- Subject access ----------------------------------------------------------------------------------


@pytest.fixture
def subject_world(cast):
    """Sid (the subject) with an agreement, a signed record, an agenda item, an informal note and a
    notification; Sal, in the other school, with a signed record of their own that must not appear."""
    mine = signed_record(cast)
    contract = mine.session.contract
    upcoming = supervision_services.session_book(
        actor=cast.supervisor, contract=contract, starts_at=at(timezone.localdate() + timedelta(days=9), 11),
        minutes=30, check=False, send=False,
    )  # fmt: skip
    item = supervision_services.agenda_add(actor=cast.supervisee, session=upcoming, text="Workload in Year 2")
    note = supervision_services.note_add(
        actor=cast.supervisor, supervisee=cast.supervisee, occurred_on=timezone.localdate(),
        summary="Quick chat about the trip", significant=False,
    )  # fmt: skip
    notice = notify(
        recipient=cast.supervisee, kind="agenda_prompt", object_type="session", object_code=upcoming.code,
        period="p", title="Prepare your agenda", body="Your session is next week.", url="/",
    )  # fmt: skip
    theirs = written_record(cast, supervisee=cast.supervisee2, supervisor=cast.supervisor2)
    section = theirs.sections.first()
    services.section_save(actor=cast.supervisor2, section=section, discussion="SAL-PRIVATE-NARRATIVE")
    services.record_submit(actor=cast.supervisor2, record=theirs)
    services.record_sign(actor=cast.supervisee2, record=theirs, password=PASSWORD)
    services.record_sign(actor=cast.supervisor2, record=theirs, password=PASSWORD)
    return {
        "record": mine,
        "contract": contract,
        "upcoming": upcoming,
        "item": item,
        "note": note,
        "notice": notice,
        "theirs": theirs,
    }


def test_a_subject_access_export_holds_everything_about_the_person_and_nothing_about_others(
    cast, login, subject_world, django_capture_on_commit_callbacks
):
    w = subject_world
    client = login(cast.org_admin)
    job = start(
        client, django_capture_on_commit_callbacks,
        {"kind": "subject_access", "subject": cast.supervisee.code, "reference": "Email of 3 March"},
    )  # fmt: skip
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE and job.done == job.total > 0
    requested = AuditEvent.objects.get(action="export.requested")
    assert requested.details["subject"] == str(cast.supervisee.code)
    assert requested.details["reference"] == "Email of 3 March"

    # The admin's pages never show the narrative: only the file holds it.
    assert "Discussion 0" not in status(client, job).content.decode()
    assert "Discussion 0" not in client.get(reverse("records:export-list")).content.decode()

    # The file is released to Sid alone (issue 11): the admin who asked for it does not get it.
    assert download(client, job).status_code == 404
    response = download(login(cast.supervisee), job)
    assert response.status_code == 200
    assert "subject-access-sid-supervisee-" in response["Content-Disposition"]
    archive = read_zip(response)
    names = set(archive.namelist())
    assert {"subject-access.json", "staff.csv", "roles.csv", "agreements.csv", "sessions.csv", "agenda_items.csv",
            "informal_notes.csv", "records.csv", "record_sections.csv", "actions.csv", "notifications.csv",
            "audit_events.csv", "README.txt"} <= names  # fmt: skip
    data = json.loads(archive.read("subject-access.json"))

    assert data["staff"]["email"] == cast.supervisee.email
    assert data["staff"]["supervisor"] == "Sam Supervisor"
    assert [a["code"] for a in data["agreements"]] == [str(w["contract"].code)]
    assert data["agreements"][0]["as"] == "supervisee" and data["agreements"][0]["supervisee_signed_at"]
    sessions = {s["code"] for s in data["sessions"]}
    assert {str(w["record"].session.code), str(w["upcoming"].code)} <= sessions
    assert [i["text"] for i in data["agenda_items"]] == ["Workload in Year 2"]
    assert [n["summary"] for n in data["informal_notes"]] == ["Quick chat about the trip"]
    # Sid was told the export was asked for (issue 11); that notice is Sid's data too.
    assert [n["title"] for n in data["notifications"]] == [
        "Prepare your agenda",
        "An export of your data was asked for",
    ]
    (record,) = data["records"]
    assert record["code"] == str(w["record"].code)
    assert record["content_sha256"] == w["record"].content_hash
    assert record["content"]["sections"][0]["discussion"].startswith("Discussion 0")
    assert {s["signer"] for s in record["signatures"]} == {"Sid Supervisee", "Sam Supervisor"}
    events = {(e["action"], e["actor"], e["object_code"]) for e in data["audit_events"]}
    # As actor (Sid signed, added to an agenda) and about their record (Sam started and signed it).
    assert ("record.signed", "Sid Supervisee", str(w["record"].code)) in events
    assert ("session.agenda_added", "Sid Supervisee", str(w["upcoming"].code)) in events
    assert ("record.started", "Sam Supervisor", str(w["record"].code)) in events
    # Someone else's address and browser are theirs, not Sid's.
    assert all(e["ip_address"] is None for e in data["audit_events"] if e["actor"] != "Sid Supervisee")
    sections = list(csv.DictReader(io.StringIO(archive.read("record_sections.csv").decode("utf-8-sig"))))
    assert sections and all(s["record_code"] == str(w["record"].code) for s in sections)

    everything = b"".join(archive.read(n) for n in names).decode("utf-8", "replace")
    for foreign in (str(w["theirs"].code), "SAL-PRIVATE-NARRATIVE", str(w["theirs"].session.code),
                    str(w["theirs"].session.contract.code), cast.supervisee2.email):  # fmt: skip
        assert foreign not in everything


def test_a_subject_access_export_is_404_once_the_admin_no_longer_manages_the_person(
    cast, login, subject_world, django_capture_on_commit_callbacks
):
    job = start(
        login(cast.org_admin), django_capture_on_commit_callbacks,
        {"kind": "subject_access", "subject": cast.supervisee.code},
    )  # fmt: skip
    cast.org_admin.role_assignments.filter(role=Role.ORG_ADMIN).update(setting=cast.secondary)
    client = login(cast.org_admin)
    assert status(client, job).status_code == 404
    assert download(client, job).status_code == 404
    # Another admin of the organisation does not reach it either: exports are their owner's.
    other_admin = StaffFactory(organisation=cast.organisation, settings=[cast.primary], roles=[(Role.ORG_ADMIN, None)])
    assert download(login(other_admin), job).status_code == 404


def test_csv_cells_cannot_run_as_formulas():
    assert exports._cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert exports._cell("@SUM") == "'@SUM" and exports._cell("Sid") == "Sid" and exports._cell(None) == ""


def test_the_service_checks_the_grant_and_the_person_again(cast):
    revoked = make_grant(cast)
    revoke(cast, revoked)
    with pytest.raises(exports.ExportError):
        exports.export_start(actor=cast.auditor, kind="audit_zip", grant=revoked)
    with pytest.raises(exports.ExportError):
        exports.export_start(actor=cast.org_admin, kind="audit_zip", grant=make_grant(cast))
    with pytest.raises(exports.ExportError):
        exports.export_start(actor=cast.org_admin, kind="subject_access", subject=cast.outsider_staff)
    with pytest.raises(exports.ExportError):
        exports.export_start(actor=cast.head, kind="subject_access", subject=cast.supervisee)
    assert not ExportJob.objects.exists()


@pytest.mark.parametrize("who", ["org_admin", "auditor"])
def test_the_list_costs_the_same_queries_for_few_and_many_jobs(cast, login, who):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    owner = getattr(cast, who)
    grant = make_grant(cast)
    client = login(owner)

    def add_jobs(count):
        now = timezone.now()
        for i in range(count):
            subject = None
            if who == "org_admin":
                subject = StaffFactory(organisation=cast.organisation, settings=[cast.primary])
            ExportJob.objects.create(
                organisation=cast.organisation, requested_by=owner,
                kind="subject_access" if subject else "audit_zip", subject=subject, grant=None if subject else grant,
                status="done" if i % 2 else "running", expires_at=now + timedelta(days=7 - i),
            )  # fmt: skip

    def queries():
        with CaptureQueriesContext(connection) as context:
            assert client.get(reverse("records:export-list")).status_code == 200
        return len(context)

    add_jobs(2)
    few = queries()
    add_jobs(20)
    assert queries() == few


# --- PDFs not yet stored: rendered by the workers, not inside the export ---------------------------


def test_missing_pdfs_are_rendered_by_the_workers_before_the_zip_is_built(
    cast, login, monkeypatch, django_capture_on_commit_callbacks
):
    records = [signed_record(cast, days_ago=days) for days in (3, 10, 20)]
    assert all(not r.pdf_sha256 for r in records)
    from records import pdf, tasks

    rendered = []
    store = pdf.store_record_pdf

    def render_task(record_id):  # what the group hands each worker
        rendered.append(record_id)
        return store(record_id)

    monkeypatch.setattr(pdf, "store_record_pdf", render_task)

    def inline(record_id):
        raise AssertionError("rendered inside the export")

    monkeypatch.setattr(exports, "store_record_pdf", inline)
    dispatched = []
    original_group = tasks.group
    monkeypatch.setattr(
        tasks, "group", lambda signatures: dispatched.append(sig := list(signatures)) or original_group(sig)
    )
    assert exports.pdfs_to_render(0) == []

    grant = make_grant(cast)
    job = start(login(cast.auditor), django_capture_on_commit_callbacks, {"kind": "audit_zip", "grant": grant.code})

    assert sorted(rendered) == sorted(r.id for r in records)
    assert [[s.args for s in group] for group in dispatched] == [[(r.id,) for r in sorted(records, key=lambda r: r.id)]]
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE
    rows = manifest_rows(read_zip(download(login(cast.auditor), job)))
    assert sorted(r["record_code"] for r in rows) == sorted(str(r.code) for r in records)
    assert exports.pdfs_to_render(job.id) == []


def test_an_export_whose_pdfs_are_stored_builds_at_once(cast, login, monkeypatch, django_capture_on_commit_callbacks):
    record = signed_record(cast)
    store_record_pdf(record.id)
    from records import tasks

    monkeypatch.setattr(tasks, "group", lambda signatures: pytest.fail("nothing to render"))
    grant = make_grant(cast)
    job = start(login(cast.auditor), django_capture_on_commit_callbacks, {"kind": "audit_zip", "grant": grant.code})
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE and job.total == 1


def test_a_pdf_the_workers_could_not_store_is_rendered_by_the_export_after_the_last_look(
    cast, monkeypatch, django_capture_on_commit_callbacks, login
):
    record = signed_record(cast)
    from records import pdf, tasks

    monkeypatch.setattr(pdf, "store_record_pdf", lambda record_id: None)  # every worker's attempt fails
    polls = []
    original = tasks.run_export.apply_async

    def counted(args, kwargs=None, **options):
        if kwargs:  # the first delivery (`delay`) has none
            polls.append(kwargs["polls"])
        return original(args, kwargs, **options)

    monkeypatch.setattr(tasks.run_export, "apply_async", counted)
    grant = make_grant(cast)
    job = start(login(cast.auditor), django_capture_on_commit_callbacks, {"kind": "audit_zip", "grant": grant.code})
    assert polls == list(range(1, exports.RENDER_POLLS + 1))
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE  # the export stored it itself, in the end
    record.refresh_from_db()
    assert record.pdf_sha256


def test_while_the_workers_make_its_pdfs_the_export_counts_them_and_says_so(
    cast, login, monkeypatch, django_capture_on_commit_callbacks
):
    from records import tasks

    records = [signed_record(cast, days_ago=days) for days in (3, 10, 20)]
    held = hold_back_export_renders(monkeypatch)
    client = login(cast.auditor)
    data = {"kind": "audit_zip", "grant": make_grant(cast).code}
    job = start(client, django_capture_on_commit_callbacks, data)

    job.refresh_from_db()
    assert (job.status, job.making_pdfs, job.done, job.total) == (ExportJob.Status.RUNNING, True, 0, 3)
    assert timezone.now() - job.heartbeat_at < timedelta(seconds=5)
    in_order = sorted(records, key=lambda r: r.id)
    assert [(s.args, s.kwargs) for s in held] == [((r.id,), {"export": job.id}) for r in in_order]
    text = " ".join(status(client, job).content.decode().split())
    assert "Making the signed PDFs it needs first: 0 of 3 made." in text
    assert "Waiting for a worker" not in text

    tasks.render_record_pdf(*held[0].args, **held[0].kwargs)  # a worker makes the first
    job.refresh_from_db()
    assert (job.status, job.making_pdfs, job.done) == (ExportJob.Status.RUNNING, True, 1)
    text = " ".join(status(client, job).content.decode().split())
    assert "Making the signed PDFs it needs first: 1 of 3 made." in text
    assert "making PDFs: 1 of 3" in client.get(reverse("records:export-list")).content.decode()

    for signature in held[1:]:
        tasks.render_record_pdf(*signature.args, **signature.kwargs)
    tasks.render_record_pdf(*held[0].args, **held[0].kwargs)  # delivered twice: never counted past the total
    job.refresh_from_db()
    assert job.done == 3

    tasks.run_export(job.id, polls=1)  # the next look finds them all stored and writes the ZIP
    job.refresh_from_db()
    assert (job.status, job.making_pdfs, job.total) == (ExportJob.Status.DONE, False, 3)
    text = " ".join(status(client, job).content.decode().split())
    assert "3 signed records" in text and "Making the signed" not in text


def test_an_export_whose_pdfs_are_still_being_made_is_not_queued_again_as_lost(
    cast, login, monkeypatch, django_capture_on_commit_callbacks
):
    """Thousands of missing PDFs take the workers longer than the late-export sweep's five minutes: each PDF
    made is a heartbeat, so the sweep leaves the job to them (it queued it again, with an "export.queued_again"
    event and a warning that nothing was heard of it, and its missing PDFs were handed out a second time)."""
    from records import late_files, tasks

    for days in (3, 10):
        signed_record(cast, days_ago=days)
    held = hold_back_export_renders(monkeypatch)
    data = {"kind": "audit_zip", "grant": make_grant(cast).code}
    job = start(login(cast.auditor), django_capture_on_commit_callbacks, data)
    started = timezone.now() - late_files.EXPORT_LATE_AFTER * 2  # as if the workers began well before the sweep's limit
    ExportJob.objects.filter(pk=job.pk).update(created_at=started, queued_at=started, heartbeat_at=started)

    tasks.render_record_pdf(*held[0].args, **held[0].kwargs)  # one made just now
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert late_files.requeue_late_exports() == 0
    assert queued == [] and not AuditEvent.objects.filter(action="export.queued_again").exists()

    # Workers that stop making them (none made for longer than the limit): the sweep queues the job again.
    ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=started)
    with django_capture_on_commit_callbacks(execute=False):
        assert late_files.requeue_late_exports() == 1
    assert AuditEvent.objects.filter(action="export.queued_again").count() == 1


def test_an_export_that_expires_while_its_pdfs_are_made_fails_and_says_why(
    cast, login, monkeypatch, django_capture_on_commit_callbacks
):
    from records import tasks

    signed_record(cast)
    hold_back_export_renders(monkeypatch)
    client = login(cast.auditor)
    job = start(client, django_capture_on_commit_callbacks, {"kind": "audit_zip", "grant": make_grant(cast).code})
    ExportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    tasks.run_export(job.id, polls=1)  # a look while expired changes nothing
    job.refresh_from_db()
    assert (job.status, job.making_pdfs) == (ExportJob.Status.RUNNING, True)
    tasks.run_export(job.id, polls=exports.RENDER_POLLS)  # the last look: the build finds it expired
    job.refresh_from_db()
    assert (job.status, job.making_pdfs) == (ExportJob.Status.FAILED, False)
    assert not AuditEvent.objects.filter(action="export.queued_again").exists()
