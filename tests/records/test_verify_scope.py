"""/records/verify/ names a record only to someone who may reach it (issue 11, finding 10b).

Whoever uploads a PDF learns whether it is intact; which record it is, and whose, only when they could
open that record's page (its people, the heads and DSLs of its setting, an auditor inside a live grant)
or are an organisation admin of its setting (who sees record metadata in scope, DESIGN.md section 6).
"""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Role
from records.models import AuditorGrant
from records.oversight import auditor_grant_create, auditor_grant_revoke
from records.pdf import store_record_pdf
from tests.factories import StaffFactory

from .helpers import approve_grant, signed_record

pytestmark = pytest.mark.django_db

NOT_NAMED = "outside the settings and records you can see"


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path):
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.RECORDS_SIGNING_CERT = settings.RECORDS_SIGNING_KEY = settings.RECORDS_SIGNING_KEY_PASSPHRASE = ""
    return settings.PRIVATE_ROOT


@pytest.fixture
def stored(cast):
    """A signed record of the primary school's pair with its PDF stored: (record, pdf bytes)."""
    record = signed_record(cast)
    path = store_record_pdf(record.id)
    record.refresh_from_db()
    return record, path.read_bytes()


def person(cast, role, setting):
    return StaffFactory(
        organisation=cast.organisation, settings=[setting or cast.primary], roles=[(role, setting)],
        user__full_name="Una Uploader",
    )  # fmt: skip


def upload(client, data):
    response = client.post(
        reverse("records:record-verify"), {"file": SimpleUploadedFile("r.pdf", data, content_type="application/pdf")}
    )
    assert response.status_code == 200
    return " ".join(response.content.decode().split())


def grant(cast, record, **kwargs):
    """A live grant over the record's school: asked for by the admin, approved by the head."""
    day = timezone.localdate()
    made = auditor_grant_create(
        actor=cast.org_admin, auditor=cast.auditor, settings=[cast.primary], covers_from=day - timedelta(days=30),
        covers_until=day, expires_at=timezone.now() + timedelta(days=7), purpose="Ofsted inspection", **kwargs,
    )  # fmt: skip
    return approve_grant(cast, made)


def assert_named(page, record, cast):
    assert "Intact: a signed record of Cast Trust" in page
    assert str(record.code) in page and cast.supervisee.full_name in page and "Cast Primary" in page
    assert "Same file" in page and NOT_NAMED not in page


def assert_not_named(page, record, cast):
    assert str(record.code) not in page
    for name in (cast.supervisee.full_name, cast.supervisor.full_name, "Cast Primary"):
        assert name not in page
    assert NOT_NAMED in page
    # Nothing of the stored copies either (an earlier copy would tell that an addendum was signed).
    assert 'id="verify-file"' not in page and 'id="verify-content"' not in page


def test_a_head_of_another_school_learns_it_is_intact_but_not_whose_it_is(cast, login, stored):
    record, data = stored
    head = person(cast, Role.HEAD, cast.secondary)
    page = upload(login(head), data)
    assert "Intact: a signed record of Cast Trust, unchanged since it was signed" in page
    assert_not_named(page, record, cast)
    event = AuditEvent.objects.get(action="record.verified")
    assert event.actor == head.user and event.object_code == str(record.code)
    assert event.details["named"] is False and event.details["outcome"] == "confirmed"


def test_a_head_of_another_school_learns_a_changed_copy_is_not_intact_and_nothing_more(cast, login, stored):
    record, data = stored
    page = upload(login(person(cast, Role.DSL, cast.secondary)), data + b"\n% appended\n")
    assert "Not intact" in page and "Intact:" not in page
    assert_not_named(page, record, cast)


@pytest.mark.parametrize("who", ["head", "dsl"])
def test_the_head_and_dsl_of_the_records_setting_see_which_record_it_is(cast, login, stored, who):
    record, data = stored
    assert_named(upload(login(getattr(cast, who)), data), record, cast)
    assert AuditEvent.objects.get(action="record.verified").details["named"] is True


def test_an_auditor_without_a_live_grant_is_not_told_whose_record_it_is(cast, login, stored):
    record, data = stored
    client = login(cast.auditor)
    assert_not_named(upload(client, data), record, cast)
    auditor_grant_revoke(actor=cast.org_admin, grant=grant(cast, record))
    assert_not_named(upload(client, data), record, cast)
    AuditorGrant.objects.filter(pk=grant(cast, record).pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert_not_named(upload(client, data), record, cast)


def test_an_auditor_inside_a_live_grant_sees_which_record_it_is(cast, login, stored):
    record, data = stored
    grant(cast, record)
    assert_named(upload(login(cast.auditor), data), record, cast)


def test_an_admin_of_another_school_is_not_told_whose_record_it_is(cast, login, stored):
    record, data = stored
    assert_not_named(upload(login(person(cast, Role.ORG_ADMIN, cast.secondary)), data), record, cast)


def test_an_admin_of_the_school_or_the_organisation_sees_the_records_metadata(cast, login, stored):
    record, data = stored
    assert_named(upload(login(person(cast, Role.ORG_ADMIN, cast.primary)), data), record, cast)
    assert_named(upload(login(cast.org_admin), data), record, cast)


@pytest.mark.parametrize("who", ["supervisee", "supervisor"])
def test_the_people_in_the_record_check_their_own_pdf(cast, login, stored, who):
    """Issue 16, fault 8: the PDF's footer sends its reader here; the people in the record are let in and
    told which record it is (they can open it)."""
    record, data = stored
    page = upload(login(getattr(cast, who)), data)
    assert "Intact: a signed record of Cast Trust, unchanged since it was signed" in page
    assert_named(page, record, cast)
    event = AuditEvent.objects.get(action="record.verified")
    assert event.actor == getattr(cast, who).user and event.details["named"] is True


def test_a_colleague_with_no_role_learns_only_that_it_is_intact(cast, login, stored):
    record, data = stored
    page = upload(login(cast.supervisee2), data)
    assert "Intact: a signed record of Cast Trust" in page
    assert_not_named(page, record, cast)
