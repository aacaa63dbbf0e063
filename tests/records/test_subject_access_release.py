"""Issue 11 (finding 3): a subject access export is released to the person it is about, never to the
organisation admin who asked for it. The person sees that it was made, when and by whom, and downloads
it from their own account; other participants' own words in group records are left out."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Role
from records import services
from records.models import ExportJob
from supervision import services as supervision_services
from supervision.models import Notification, NotificationKind
from tests.factories import PASSWORD, StaffFactory
from tests.supervision.helpers import at

from .helpers import signed_record


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path):
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.RECORDS_SIGNING_CERT = settings.RECORDS_SIGNING_KEY = settings.RECORDS_SIGNING_KEY_PASSPHRASE = ""
    return settings.PRIVATE_ROOT


def ask_for_export(cast, login, capture, subject=None) -> ExportJob:
    """The organisation admin answers a subject access request on /exports/; the worker runs it."""
    with capture(execute=True):
        response = login(cast.org_admin).post(
            reverse("records:export-list"),
            {"kind": "subject_access", "subject": (subject or cast.supervisee).code, "reference": "Letter"},
        )
    assert response.status_code == 302
    job = ExportJob.objects.latest("created_at")
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE
    return job


def download(client, job):
    return client.get(reverse("records:export-download", kwargs={"code": job.code}))


def status(client, job):
    return client.get(reverse("records:export-status", kwargs={"code": job.code}))


def export_data(response) -> dict:
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    return json.loads(archive.read("subject-access.json"))


def test_the_admin_who_asks_for_an_export_never_gets_the_file(cast, login, django_capture_on_commit_callbacks):
    signed_record(cast)
    job = ask_for_export(cast, login, django_capture_on_commit_callbacks)
    admin = login(cast.org_admin)
    assert download(admin, job).status_code == 404
    page = status(admin, job).content.decode()
    assert reverse("records:export-download", kwargs={"code": job.code}) not in page
    assert "The file is theirs: it is not offered to you." in page
    listing = admin.get(reverse("records:export-list")).content.decode()
    assert reverse("records:export-download", kwargs={"code": job.code}) not in listing
    assert "released to them only" in listing
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()


def test_the_person_sees_who_asked_for_it_and_when_and_downloads_it(cast, login, django_capture_on_commit_callbacks):
    record = signed_record(cast)
    job = ask_for_export(cast, login, django_capture_on_commit_callbacks)
    sid = login(cast.supervisee)
    listing = " ".join(sid.get(reverse("records:export-list")).content.decode().split())
    assert "About you · asked for by Ada Admin" in listing
    assert f"{timezone.localtime(job.created_at):%a %-d %b %Y, %H:%M}" in listing
    assert reverse("records:export-download", kwargs={"code": job.code}) in listing
    page = " ".join(status(sid, job).content.decode().split())
    assert "Everything Supervision holds about you, asked for by Ada Admin" in page
    response = download(sid, job)
    assert response.status_code == 200
    data = export_data(response)
    assert data["records"][0]["code"] == str(record.code)
    assert data["records"][0]["content"]["sections"][0]["discussion"].startswith("Discussion 0")
    downloaded = AuditEvent.objects.get(action="export.downloaded")
    assert downloaded.actor == cast.supervisee.user


def test_the_person_is_told_when_it_is_asked_for_and_when_it_is_ready(cast, login, django_capture_on_commit_callbacks):
    job = ask_for_export(cast, login, django_capture_on_commit_callbacks)
    notices = Notification.objects.filter(recipient=cast.supervisee, kind=NotificationKind.SUBJECT_ACCESS_EXPORT)
    assert sorted(n.period for n in notices) == ["ready", "requested"]
    assert all("Ada Admin" in n.body for n in notices)
    assert all(n.url == reverse("records:export-status", kwargs={"code": job.code}) for n in notices)
    assert not Notification.objects.filter(kind=NotificationKind.SUBJECT_ACCESS_EXPORT).exclude(
        recipient=cast.supervisee
    )


@pytest.mark.parametrize("who", ["supervisor", "supervisee2", "head", "dsl", "auditor", "other_admin"])
def test_nobody_but_the_person_reaches_the_file(cast, login, django_capture_on_commit_callbacks, who):
    job = ask_for_export(cast, login, django_capture_on_commit_callbacks)
    if who == "other_admin":
        person = StaffFactory(organisation=cast.organisation, settings=[cast.primary], roles=[(Role.ORG_ADMIN, None)])
    else:
        person = getattr(cast, who)
    client = login(person)
    assert download(client, job).status_code == 404
    assert status(client, job).status_code == 404


def test_the_person_keeps_the_file_when_the_admin_no_longer_manages_them(
    cast, login, django_capture_on_commit_callbacks
):
    job = ask_for_export(cast, login, django_capture_on_commit_callbacks)
    cast.org_admin.role_assignments.filter(role=Role.ORG_ADMIN).update(setting=cast.secondary)
    assert status(login(cast.org_admin), job).status_code == 404
    assert download(login(cast.supervisee), job).status_code == 200


def test_a_group_record_leaves_out_other_participants_words(cast, login, django_capture_on_commit_callbacks):
    group = supervision_services.group_create(
        actor=cast.supervisor, name="Reading team", setting=cast.primary, supervisor=cast.supervisor,
        members=[cast.supervisee, cast.dsl], confidentiality_boundaries="Stays in the room.",
    )  # fmt: skip
    session = supervision_services.session_book(
        actor=cast.supervisor, group=group, starts_at=at(timezone.localdate() - timedelta(days=1), 14), minutes=60,
        check=False, send=False,
    )  # fmt: skip
    record = services.record_start(actor=cast.supervisor, session=session)
    section = record.sections.order_by("template_section__order").first()
    services.section_save(actor=cast.supervisor, section=section, discussion="SUPERVISOR-NOTES of the group")
    for owner, text in ((cast.supervisee, "SID-ACTION"), (cast.dsl, "DEE-ACTION")):
        services.action_add(
            actor=cast.supervisor, record=record, description=text, owner=owner, due_date=timezone.localdate()
        )
    services.record_submit(actor=cast.supervisor, record=record)
    services.record_comment(actor=cast.dsl, record=record, text="DEE-OWN-WORDS about her class", disagree=False)
    services.record_submit(actor=cast.supervisor, record=record)
    services.record_comment(actor=cast.supervisee, record=record, text="SID-OWN-WORDS", disagree=True)
    services.record_submit(actor=cast.supervisor, record=record)
    services.record_set_feedback(actor=cast.dsl, record=record, feedback="DEE-FEEDBACK")
    for person in (cast.supervisee, cast.dsl, cast.supervisor):
        services.record_sign(actor=person, record=record, password=PASSWORD)
    addendum = services.addendum_add(actor=cast.dsl, record=record, text="DEE-ADDENDUM")
    for person in (cast.supervisee, cast.dsl, cast.supervisor):
        services.addendum_sign(actor=person, addendum=addendum, password=PASSWORD)

    job = ask_for_export(cast, login, django_capture_on_commit_callbacks)
    response = download(login(cast.supervisee), job)
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    everything = b"".join(archive.read(n) for n in archive.namelist()).decode("utf-8", "replace")
    for theirs in ("DEE-OWN-WORDS", "DEE-ACTION", "DEE-FEEDBACK", "DEE-ADDENDUM"):
        assert theirs not in everything
    for mine in ("SUPERVISOR-NOTES of the group", "SID-OWN-WORDS", "SID-ACTION"):
        assert mine in everything
    (exported,) = json.loads(archive.read("subject-access.json"))["records"]
    assert exported["left_out"]["comments"] == 1 and exported["left_out"]["actions"] == 1
    assert exported["left_out"]["addenda"] == 1 and exported["left_out"]["supervisee_feedback"] is True


def test_downloading_the_export_marks_its_notices_read(cast, login, django_capture_on_commit_callbacks):
    """Issue 16, fault 7: the notice asks the person to download the file; the download answers it."""
    job = ask_for_export(cast, login, django_capture_on_commit_callbacks)
    unread = Notification.objects.filter(
        recipient=cast.supervisee, kind=NotificationKind.SUBJECT_ACCESS_EXPORT, read_at__isnull=True
    )
    assert unread.count() == 2
    assert download(login(cast.supervisee), job).status_code == 200
    assert unread.count() == 0
