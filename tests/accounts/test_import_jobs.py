"""A large staff import runs as a background job in batches: followed on a page that polls a small
status URL, safe to run twice, and a worker that dies part-way leaves what it saved for a retry to
finish without doubling anyone (issue 15, "staff import, for real sizes")."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts import staff_import
from accounts.models import AuditEvent, PendingImport, StaffImportJob, StaffMember
from accounts.tasks import run_staff_import

from ..factories import OrganisationFactory, StaffFactory

pytestmark = pytest.mark.django_db

IMPORT_URL = "/staff/import/"


@pytest.fixture(autouse=True)
def _small_sizes(settings):
    settings.STAFF_IMPORT_BACKGROUND_ROWS = 5
    settings.STAFF_IMPORT_BATCH_ROWS = 3


def people_file(cast, count=8):
    """`count` people; the last row supervises all the others, so supervisors come after their people."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(staff_import.COLUMNS)
    lead = f"lead{count}@job.example"
    for n in range(1, count):
        writer.writerow([f"First{n}", f"Last{n}", f"person{n}@job.example", "Teaching Assistant", cast.primary.name,
                         "permanent", "Mon Wed", "2025-09-01", lead, ""])  # fmt: skip
    writer.writerow(["Lee", "Lead", lead, "Phase Lead", cast.primary.name, "permanent", "", "2025-09-01", "",
                     "supervisor"])  # fmt: skip
    return out.getvalue()


def queue(client, text):
    preview = client.post(IMPORT_URL, {"file": SimpleUploadedFile("all.csv", text.encode(), "text/csv")})
    assert preview.status_code == 200 and preview.context["result"].ok
    assert "the import runs in the background" in preview.content.decode()
    token = preview.context["form"]["token"].value()
    response = client.post(IMPORT_URL, {"token": token, "confirm": "1", "send_invitations": "on"})
    return response, token


def imported():
    return StaffMember.objects.filter(user__email__endswith="@job.example")


def test_a_large_file_is_queued_followed_and_imported_in_batches(cast, login):
    client = login(cast.org_admin)
    response, token = queue(client, people_file(cast))
    job = StaffImportJob.objects.get()
    assert response.status_code == 302 and response.url == f"/staff/import/jobs/{job.code}/"
    assert job.status == StaffImportJob.Status.QUEUED and job.requested_by == cast.org_admin
    assert not PendingImport.objects.exists() and not imported().exists()
    assert AuditEvent.objects.filter(action="staff.import_queued", object_code=str(job.code)).exists()

    page = client.get(response.url).content.decode()
    assert f'hx-get="/staff/import/jobs/{job.code}/status/"' in page and 'hx-trigger="every 1s"' in page
    assert "Waiting for a worker to start it." in page

    run_staff_import(job.id)
    job.refresh_from_db()
    assert (job.status, job.total, job.done, job.created, job.updated) == ("done", 8, 8, 8, 0)
    assert job.text == ""  # the file's personal data is not kept once imported
    assert imported().count() == 8
    lead = imported().get(user__email="lead8@job.example")
    assert set(imported().exclude(pk=lead.pk).values_list("supervisor", flat=True)) == {lead.id}
    [summary] = AuditEvent.objects.filter(action="staff.imported")
    assert summary.details == {"created": 8, "updated": 0, "unchanged": 0, "email_changes": 0, "job": str(job.code)}
    assert AuditEvent.objects.filter(action="staff.invited").count() == 8

    status = client.get(f"/staff/import/jobs/{job.code}/status/").content.decode()
    assert "hx-trigger" not in status  # finished: the page stops polling
    assert 'Rows added</dt><dd class="col-sm-8">8<' in status
    assert 'Rows with errors</dt><dd class="col-sm-8">0<' in status

    # Delivered twice: nothing more is written.
    run_staff_import(job.id)
    assert imported().count() == 8 and AuditEvent.objects.filter(action="staff.imported").count() == 1
    # The same checked file cannot be confirmed again.
    again = client.post(IMPORT_URL, {"token": token, "confirm": "1"})
    assert again.status_code == 200 and StaffImportJob.objects.count() == 1


def test_a_worker_that_dies_part_way_keeps_its_batches_and_a_retry_finishes(
    cast, login, monkeypatch, django_capture_on_commit_callbacks
):
    client = login(cast.org_admin)
    queue(client, people_file(cast))
    job = StaffImportJob.objects.get()
    real_apply, calls = staff_import.apply, []

    def dies_on_the_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("worker lost")
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(staff_import, "apply", dies_on_the_second_batch)
    with pytest.raises(OSError):
        run_staff_import(job.id)
    job.refresh_from_db()
    assert job.status == StaffImportJob.Status.FAILED and job.created == 3
    assert imported().count() == 3  # the first batch: the lead first, then two of their people
    page = client.get(f"/staff/import/jobs/{job.code}/").content.decode()
    assert "It did not finish" in page and "Run it again" in page

    monkeypatch.setattr(staff_import, "apply", real_apply)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/staff/import/jobs/{job.code}/retry/")
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.created, job.unchanged) == ("done", 8, 0)
    assert imported().count() == 8
    assert AuditEvent.objects.filter(action="staff.created").count() == 8
    assert AuditEvent.objects.filter(action="staff.import_retried").count() == 1
    # A finished job is not run again.
    client.post(f"/staff/import/jobs/{job.code}/retry/")
    assert AuditEvent.objects.filter(action="staff.import_retried").count() == 1


def test_rows_that_no_longer_pass_stop_the_job_and_write_nothing(cast, login):
    client = login(cast.org_admin)
    queue(client, people_file(cast))
    job = StaffImportJob.objects.get()
    # Meanwhile another organisation's person took one of the addresses.
    StaffFactory(organisation=OrganisationFactory(), user__email="person3@job.example")
    run_staff_import(job.id)
    job.refresh_from_db()
    assert job.status == StaffImportJob.Status.FAILED
    assert len(job.problems) == 1 and job.problems[0].startswith("Row 4, column “email”")
    assert imported().count() == 1  # only the other organisation's person
    status = client.get(f"/staff/import/jobs/{job.code}/status/").content.decode()
    assert 'Rows with errors</dt><dd class="col-sm-8">1<' in status and "Rows that stopped the import" in status


def test_a_small_file_still_imports_at_once(cast, login):
    client = login(cast.org_admin)
    preview = client.post(IMPORT_URL, {"file": SimpleUploadedFile("few.csv", people_file(cast, 4).encode())})
    assert "the import runs in the background" not in preview.content.decode()
    token = preview.context["form"]["token"].value()
    response = client.post(IMPORT_URL, {"token": token, "confirm": "1"})
    assert response.url == "/staff/"
    assert imported().count() == 4 and not StaffImportJob.objects.exists()


def test_a_stopped_jobs_copy_of_the_file_goes_after_a_week(cast, login):
    client = login(cast.org_admin)
    queue(client, people_file(cast))
    old = StaffImportJob.objects.get()
    StaffImportJob.objects.filter(pk=old.pk).update(
        status="failed", finished_at=timezone.now() - timedelta(days=8), error="It stopped."
    )
    queue(client, people_file(cast, 7))  # the next import clears it
    old.refresh_from_db()
    assert old.text == ""
    page = client.get(f"/staff/import/jobs/{old.code}/").content.decode()
    assert "Run it again" not in page and "import a corrected file" in page
    client.post(f"/staff/import/jobs/{old.code}/retry/")
    old.refresh_from_db()
    assert old.status == "failed"
