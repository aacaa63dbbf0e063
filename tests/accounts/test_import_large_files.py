"""CSV imports at real sizes: a checked file waits on the server for its uploader's confirmation, a row
the csv module cannot read is a problem beside the upload, and a trust's 12,000 people import through
the page in a number of queries that grows with chunks of a thousand, not with rows."""

import csv
import io
import time
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import staff_import
from accounts.imports import ALREADY_USED, EXPIRED, pending_import_get
from accounts.models import AuditEvent, PendingImport, Role, StaffImportJob, StaffMember, User

from ..factories import StaffFactory

IMPORT_URL = "/staff/import/"
CALENDAR_IMPORT_URL = "/calendar/terms/import/"


def staff_file(cast, count, *, start=0, title="Teaching Assistant"):
    """`count` people; every fiftieth supervises the next forty-nine (supervisors in the same file)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(staff_import.COLUMNS)
    for n in range(start, start + count):
        lead = n - n % 50
        writer.writerow(
            [
                f"First{n}",
                f"Last{n}",
                f"person{n}@bulk.example",
                title,
                cast.primary.name if n % 2 else cast.secondary.name,
                "permanent" if n % 3 else "agency",
                "Mon Tue Wed" if n % 4 else "",
                "2024-09-02",
                "" if n == lead else f"person{lead}@bulk.example",
                "supervisor" if n == lead else "",
            ]
        )
    return out.getvalue()


def assert_no_query_per_row(few, many, *, more_rows):
    """PostgreSQL writes a chunk of a thousand rows in one INSERT: the counts are equal. SQLite takes
    at most 999 parameters a statement, so Django splits a bulk write into batches of a few dozen
    rows: more queries, but still nowhere near one a row."""
    if connection.vendor == "postgresql":
        assert few == many
    else:
        assert many - few < more_rows / 10


def upload(client, text, url=IMPORT_URL, **extra):
    return client.post(url, {"file": SimpleUploadedFile("people.csv", text.encode(), "text/csv"), **extra})


def token_of(response):
    return response.context["form"]["token"].value()


def test_a_twelve_thousand_row_file_previews_and_imports_through_the_page(
    cast, login, django_capture_on_commit_callbacks
):
    client = login(cast.org_admin)
    # Long job titles take the file past 2.5 MB, the size a hidden field could no longer carry back.
    text = staff_file(cast, 12_000, title="Higher Level Teaching Assistant, " + "x" * 160)
    assert len(text.encode()) > 2.5 * 1024 * 1024

    started = time.perf_counter()
    preview = upload(client, text)
    checked = time.perf_counter()
    assert preview.context["counts"] == {"new": 12_000, "update": 0, "unchanged": 0}
    page = preview.content.decode()
    # A summary and the first rows, not twelve thousand table rows.
    assert "12000</strong> rows checked" in page
    assert page.count("@bulk.example</td>") == staff_import.PREVIEW_ROWS
    assert "The first 50 of 12000 rows." in page

    # Over STAFF_IMPORT_BACKGROUND_ROWS: queued for a worker (run here as the transaction commits), and
    # followed on the job's page.
    assert "the import runs in the background" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(IMPORT_URL, {"token": token_of(preview), "confirm": "1"})
    finished = time.perf_counter()
    assert response.status_code == 302
    job = StaffImportJob.objects.get()
    assert response.url == f"/staff/import/jobs/{job.code}/"
    print(f"\n12,000 rows: preview {checked - started:.1f} s, confirm and import {finished - checked:.1f} s")
    assert (job.status, job.total, job.done, job.created, job.updated) == ("done", 12_000, 12_000, 12_000, 0)
    status = client.get(f"/staff/import/jobs/{job.code}/status/").content.decode()
    assert "hx-trigger" not in status and 'Rows added</dt><dd class="col-sm-8">12000' in status
    imported = StaffMember.objects.filter(user__email__endswith="@bulk.example")
    assert imported.count() == 12_000
    person = imported.select_related("supervisor__user").get(user__email="person4321@bulk.example")
    assert person.supervisor.user.email == "person4300@bulk.example"
    assert [d.weekday for d in person.working_days.all()] == [0, 1, 2]
    assert list(person.settings.all()) == [cast.primary]
    assert imported.get(user__email="person4300@bulk.example").has_role(Role.SUPERVISOR)
    assert not User.objects.get(email="person1@bulk.example").has_usable_password()
    assert AuditEvent.objects.filter(action="staff.created").count() == 12_000
    assert not PendingImport.objects.exists()


def test_the_import_costs_the_same_queries_for_a_hundred_people_as_for_six_hundred(cast):
    def queries(count, start):
        result = staff_import.parse(
            staff_file(cast, count, start=start),
            organisation=cast.organisation,
            allowed_settings=[cast.primary, cast.secondary],
            org_wide=True,
        )
        assert result.ok
        with CaptureQueriesContext(connection) as context:
            staff_import.apply(result, actor=cast.org_admin.user, organisation=cast.organisation, send_invitations=True)
        return len(context)

    queries(5, 5000)  # the organisation's first audit event creates its chain's head, once
    assert_no_query_per_row(queries(100, 0), queries(600, 1000), more_rows=500)


def test_updating_many_people_costs_the_same_queries_as_updating_a_few(cast):
    def import_twice(count, start):
        kwargs = {
            "organisation": cast.organisation,
            "allowed_settings": [cast.primary, cast.secondary],
            "org_wide": True,
        }
        first = staff_import.parse(staff_file(cast, count, start=start), **kwargs)
        staff_import.apply(first, actor=cast.org_admin.user, organisation=cast.organisation, send_invitations=False)
        again = staff_import.parse(staff_file(cast, count, start=start, title="Class Teacher"), **kwargs)
        assert again.count("update") == count
        with CaptureQueriesContext(connection) as context:
            staff_import.apply(again, actor=cast.org_admin.user, organisation=cast.organisation, send_invitations=False)
        return len(context)

    assert_no_query_per_row(import_twice(20, 0), import_twice(200, 1000), more_rows=180)
    person = StaffMember.objects.get(user__email="person1001@bulk.example")
    assert person.job_title == "Class Teacher"
    [event] = AuditEvent.objects.filter(action="staff.updated", object_code=str(person.code))
    assert event.details["changes"]["job_title"] == ["Teaching Assistant", "Class Teacher"]


def test_a_value_over_the_csv_field_limit_is_a_problem_on_its_row_not_a_server_error(cast, login):
    client = login(cast.org_admin)
    lines = staff_file(cast, 3).splitlines()
    # A quotation mark never closed: the rest of the file reads as one value of over 128 KB.
    lines[2] = lines[2].replace("Teaching Assistant", '"Teaching Assistant')
    text = "\n".join([*lines, *["x" * 1000] * 200]) + "\n"
    before = StaffMember.objects.count()

    for response in (upload(client, text), upload(client, text, confirm="1")):
        assert response.status_code == 200
        [problem] = [p for p in response.context["result"].problems if p.column == "(row)"]
        assert problem.row == 3
        assert "longer than 128 KB" in problem.message
        assert "longer than 128 KB" in response.content.decode()
        assert token_of(response) == ""
    assert StaffMember.objects.count() == before


def test_a_calendar_value_over_the_csv_field_limit_is_a_problem_not_a_server_error(cast, login):
    client = login(cast.org_admin)
    text = 'academic year,term,half,starts,ends,setting,name\n2030/31,INSET,,2030-09-02,,,"Training' + "x" * 140_000
    response = upload(client, text, url=CALENDAR_IMPORT_URL)
    assert response.status_code == 200
    [problem] = response.context["result"].problems
    assert (problem.row, problem.column) == (2, "(row)")
    assert "longer than 128 KB" in response.content.decode()


def test_another_admins_token_is_refused_and_imports_nothing(cast, login):
    other_admin = StaffFactory(organisation=cast.organisation, roles=[(Role.ORG_ADMIN, None)])
    preview = upload(login(cast.org_admin), staff_file(cast, 5))
    token = token_of(preview)
    assert token

    # The attack: a second admin of the same organisation, then someone else's admin, replay the token.
    for attacker in (other_admin, cast.outsider):
        response = login(attacker).post(IMPORT_URL, {"token": token, "confirm": "1"})
        assert response.status_code == 200
        assert response.context["form"].errors["file"] == [EXPIRED]
        assert not StaffMember.objects.filter(user__email__endswith="@bulk.example").exists()
    # The calendar import does not take a staff file's token either.
    response = login(cast.org_admin).post(CALENDAR_IMPORT_URL, {"token": token, "confirm": "1"})
    assert EXPIRED in response.content.decode()

    # The uploader's own confirmation still works.
    response = login(cast.org_admin).post(IMPORT_URL, {"token": token, "confirm": "1"})
    assert response.status_code == 302
    assert StaffMember.objects.filter(user__email__endswith="@bulk.example").count() == 5


def test_a_checked_file_expires_after_an_hour_and_is_removed(cast, login):
    client = login(cast.org_admin)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        token = token_of(upload(client, staff_file(cast, 3)))
        clock.shift(timedelta(minutes=61))
        response = client.post(IMPORT_URL, {"token": token, "confirm": "1"})
        assert response.status_code == 200
        assert EXPIRED in response.content.decode()
        assert not StaffMember.objects.filter(user__email__endswith="@bulk.example").exists()
        # The next upload clears expired files, and a person keeps one checked file at a time.
        upload(client, staff_file(cast, 3))
        upload(client, staff_file(cast, 4))
        assert list(PendingImport.objects.values_list("token", flat=True)) != [token]
        assert PendingImport.objects.count() == 1


def test_a_file_over_the_size_cap_is_refused_beside_the_field(cast, login):
    client = login(cast.org_admin)
    text = staff_file(cast, 2) + ("," * 9 + "\n") * (600 * 1024)
    response = upload(client, text)
    assert response.status_code == 200
    assert response.context["form"].errors["file"] == ["The file is larger than 5 MB."]
    assert "The file is larger than 5 MB." in response.content.decode()
    assert not PendingImport.objects.exists()


def test_chains_and_circles_of_new_supervisors_all_get_their_supervisor(cast):
    rows = [
        # name, email, supervisor: d supervises c supervises b supervises a; e and f supervise each other.
        ("a", "b"),
        ("b", "c"),
        ("c", "d"),
        ("d", ""),
        ("e", "f"),
        ("f", "e"),
        ("g", cast.supervisor.email),
    ]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(staff_import.COLUMNS)
    for name, boss in rows:
        boss = f"{boss}@chain.example" if boss and "@" not in boss else boss
        writer.writerow(
            [name, "X", f"{name}@chain.example", "", cast.primary.name, "permanent", "", "2024-09-02", boss, ""]
        )
    result = staff_import.parse(
        out.getvalue(), organisation=cast.organisation, allowed_settings=[cast.primary], org_wide=True
    )
    assert result.ok
    staff_import.apply(result, actor=cast.org_admin.user, organisation=cast.organisation, send_invitations=False)
    supervisors = dict(
        StaffMember.objects.filter(user__email__endswith="@chain.example").values_list(
            "user__email", "supervisor__user__email"
        )
    )
    assert supervisors == {
        f"{name}@chain.example": (f"{boss}@chain.example" if boss and "@" not in boss else boss or None)
        for name, boss in rows
    }


def test_a_second_confirmation_of_the_same_file_writes_nothing(cast, login):
    """A double click: both requests hold the file; the second finds it gone once the first is in."""
    token = token_of(upload(login(cast.org_admin), staff_file(cast, 3)))
    pending = pending_import_get(
        token=token, kind=PendingImport.Kind.STAFF, user=cast.org_admin.user, organisation=cast.organisation
    )
    kwargs = {"organisation": cast.organisation, "allowed_settings": [cast.primary, cast.secondary], "org_wide": True}
    first, second = (staff_import.parse(pending.text, **kwargs) for _ in range(2))
    staff_import.apply(
        first, actor=cast.org_admin.user, organisation=cast.organisation, send_invitations=False, pending=pending
    )
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as raised:
        staff_import.apply(
            second, actor=cast.org_admin.user, organisation=cast.organisation, send_invitations=False, pending=pending
        )
    assert raised.value.messages == [ALREADY_USED]
    assert AuditEvent.objects.count() == events
    assert StaffMember.objects.filter(user__email__endswith="@bulk.example").count() == 3
