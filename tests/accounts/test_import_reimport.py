"""Re-importing an MIS file: a changed email is flagged, never a silent duplicate; people missing from a
full staff list are named; the preview says what each row was understood to say (issue 17, finding 5,
and issue 15, "staff import, for real sizes")."""

import csv
import io
import re

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEvent, EmailChange, PendingImport, StaffMember, User

from ..factories import PASSWORD, StaffFactory

pytestmark = pytest.mark.django_db

IMPORT_URL = "/staff/import/"
HEADER = [
    "first name", "last name", "email", "job title", "setting", "employment type", "working days",
    "start date", "supervisor email", "roles",
]  # fmt: skip


def csv_text(rows):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue()


def olivia_row(cast, email="olivia.bennett@new.example"):
    return ["Olivia", "Bennett", email, "Year 3 Teacher", cast.primary.name, "permanent", "Mon Tue",
            "2025-09-01", cast.supervisor.user.email, "supervisor"]  # fmt: skip


def upload(client, text, **extra):
    return client.post(IMPORT_URL, {"file": SimpleUploadedFile("mis.csv", text.encode(), "text/csv"), **extra})


def token_of(response):
    return response.context["form"]["token"].value()


@pytest.fixture
def olivia(cast):
    person = StaffFactory(
        organisation=cast.organisation, settings=[cast.primary], job_title="Year 3 Teacher",
        user__email="olivia.bennett@old.example", user__full_name="Olivia Bennett",
    )  # fmt: skip
    person.user.set_password(PASSWORD)
    person.user.save()
    return person


def test_a_changed_email_is_flagged_and_nothing_is_imported_until_the_admin_decides(cast, login, olivia):
    client = login(cast.org_admin)
    text = csv_text([olivia_row(cast)])
    preview = upload(client, text, full_list="on")
    assert preview.status_code == 200
    [flagged] = preview.context["flagged"]
    assert flagged.row == 2 and flagged.matches == [olivia] and flagged.decision is None
    page = preview.content.decode()
    assert "Rows that look like someone already here" in page
    assert "This is a change of email for Olivia Bennett" in page and "Add as a new person" in page
    # The file claims to be the whole list: the old address is named as missing from it.
    assert "olivia.bennett@old.example" in page and "not in this file" in page

    refused = client.post(IMPORT_URL, {"token": token_of(preview), "confirm": "1", "full_list": "on"})
    assert refused.status_code == 200
    page = refused.content.decode()
    assert "Nothing was imported" in page and "data-error-summary" in page
    assert 'href="#resolve-2"' in page
    assert StaffMember.objects.filter(user__full_name="Olivia Bennett").count() == 1
    assert not User.objects.filter(email="olivia.bennett@new.example").exists()
    assert not AuditEvent.objects.filter(action="staff.imported").exists()


def test_a_change_of_email_goes_through_the_persons_confirmation(
    cast, login, olivia, django_capture_on_commit_callbacks
):
    client = login(cast.org_admin)
    text = csv_text([olivia_row(cast)])
    preview = upload(client, text, full_list="on")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            IMPORT_URL, {"token": token_of(preview), "confirm": "1", "full_list": "on", "resolve-2": "email"}
        )
    assert response.status_code == 302
    # No duplicate: one Olivia, still signing in with her old address until she confirms the new one.
    [person] = StaffMember.objects.filter(user__full_name="Olivia Bennett")
    assert person == olivia and person.user.email == "olivia.bennett@old.example"
    change = EmailChange.objects.get(staff=olivia)
    assert change.status == EmailChange.Status.AWAITING_PERSON
    assert change.new_email == "olivia.bennett@new.example"
    assert [m.to for m in mail.outbox] == [["olivia.bennett@old.example"]]
    # The rest of her row applied to her: days and supervisor from the file.
    person.refresh_from_db()
    assert person.supervisor == cast.supervisor
    assert sorted(d.weekday for d in person.working_days.all()) == [0, 1]
    event = AuditEvent.objects.get(action="staff.email_change_requested")
    assert event.object_code == str(olivia.code)
    assert AuditEvent.objects.get(action="staff.imported").details["email_changes"] == 1
    notes = [str(m) for m in response.wsgi_request._messages]
    assert "1 change of email asked for: each takes effect when the person confirms it." in notes[0]

    # The same file again, same answer: no second request, nothing new.
    again = upload(client, text)
    client.post(IMPORT_URL, {"token": token_of(again), "confirm": "1", "resolve-2": "email"})
    assert EmailChange.objects.filter(staff=olivia).count() == 1
    assert StaffMember.objects.filter(user__full_name="Olivia Bennett").count() == 1


def test_add_as_a_new_person_makes_a_second_person_on_purpose(cast, login, olivia):
    client = login(cast.org_admin)
    preview = upload(client, csv_text([olivia_row(cast)]))
    response = client.post(IMPORT_URL, {"token": token_of(preview), "confirm": "1", "resolve-2": "new"})
    assert response.status_code == 302
    assert StaffMember.objects.filter(user__full_name="Olivia Bennett").count() == 2
    assert not EmailChange.objects.exists()


def test_a_namesake_in_another_job_or_setting_is_not_flagged(cast, login, olivia):
    client = login(cast.org_admin)
    row = olivia_row(cast)
    row[3] = "Year 5 Teacher"
    other_setting = olivia_row(cast, email="olivia@elsewhere.example")
    other_setting[4] = cast.secondary.name
    preview = upload(client, csv_text([row, other_setting]))
    assert preview.context["flagged"] == []


def test_two_rows_cannot_both_be_the_same_persons_new_address(cast, login, olivia):
    client = login(cast.org_admin)
    text = csv_text([olivia_row(cast), olivia_row(cast, email="o.bennett@new.example")])
    preview = upload(client, text)
    assert len(preview.context["flagged"]) == 2
    response = client.post(
        IMPORT_URL, {"token": token_of(preview), "confirm": "1", "resolve-2": "email", "resolve-3": "email"}
    )
    assert response.status_code == 200
    assert [str(p) for p in response.context["problems"]] == [
        "Row 3, column “email”: Row 2 is already Olivia Bennett's new address."
    ]
    assert not EmailChange.objects.exists() and not PendingImport.objects.filter(text=text).count() > 1


def test_people_missing_from_a_full_list_are_listed_only_when_it_claims_to_be_full(cast, login):
    client = login(cast.org_admin)
    text = csv_text([olivia_row(cast, email="someone.new@new.example")])
    partial = upload(client, text)
    assert partial.context["result"].missing_count == 0
    full = upload(client, text, full_list="on")
    result = full.context["result"]
    # Everyone current in the admin's settings (the cast), none of whom is in the file.
    assert result.missing_count == StaffMember.objects.filter(organisation=cast.organisation).count()
    assert cast.supervisee in result.missing
    assert "An import never removes anyone" in full.content.decode()


def test_the_preview_shows_what_each_row_was_understood_to_say(cast, login):
    client = login(cast.org_admin)
    preview = upload(client, csv_text([olivia_row(cast, email="someone.new@new.example")]))
    page = preview.content.decode()
    assert "What each row was understood to say" in page
    assert "<td>Mon Tue</td>" in page
    assert "<td>Mon 1 Sep 2025</td>" in page
    assert f"<td>{cast.supervisor.full_name}</td>" in page
    assert f"Supervisor ({cast.primary.name})" in page
    # "Email an invitation" is ticked by default after the check, though the upload form does not carry it.
    assert preview.context["form"]["send_invitations"].value() is True
    assert re.search(r'<input type="checkbox" name="send_invitations"[^>]*checked', page)
    assert not StaffMember.objects.filter(user__email="someone.new@new.example").exists()


def test_the_preview_takes_the_same_number_of_queries_for_20_and_200_rows(cast, login, olivia):
    client = login(cast.org_admin)

    def queries(count):
        rows = [olivia_row(cast)] + [
            olivia_row(cast, email=f"p{n}@size.example")[:1] + [f"Person{n}", f"p{n}@size.example"]
            + olivia_row(cast)[3:] for n in range(count - 1)
        ]  # fmt: skip
        with CaptureQueriesContext(connection) as context:
            response = upload(client, csv_text(rows), full_list="on")
        assert response.context["result"].ok and len(response.context["flagged"]) == 1
        return len(context)

    assert queries(20) == queries(200)


def test_an_admin_cannot_give_themself_roles_through_a_change_of_email(cast, login):
    admin = cast.org_admin
    client = login(admin)
    row = [*admin.full_name.split(" ", 1), "ada.admin@new.example", admin.job_title, cast.primary.name, "permanent",
           "", "2025-09-01", "", "head"]  # fmt: skip
    preview = upload(client, csv_text([row]))
    assert [r.matches for r in preview.context["flagged"]] == [[admin]]
    response = client.post(IMPORT_URL, {"token": token_of(preview), "confirm": "1", "resolve-2": "email"})
    assert response.status_code == 200
    assert [p.column for p in response.context["problems"]] == ["roles"]
    assert not EmailChange.objects.exists() and not admin.has_role("head")
