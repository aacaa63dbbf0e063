"""Issue 11, finding 8 (second half): the retention sweep first lists what it will delete and tells
the organisation admins "will be deleted on <date> unless stopped"; it deletes only after a 30-day grace
period, in which a legal hold on the person (audited, with a reason) stops it."""

from datetime import date, timedelta

import pytest
import time_machine
from django.urls import reverse

from accounts.models import AuditEvent, StaffMember
from records import retention
from records.models import Record
from supervision.models import Notification, NotificationKind
from tests.records.helpers import signed_record, written_record

pytestmark = pytest.mark.django_db

BUILT = "2025-03-10 09:00 +0000"
TODAY = date(2026, 5, 4)
DELETES_ON = TODAY + timedelta(days=30)  # Wed 3 Jun 2026


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path):
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.RECORDS_SIGNING_CERT = settings.RECORDS_SIGNING_KEY = settings.RECORDS_SIGNING_KEY_PASSPHRASE = ""


def sweep(today):
    with time_machine.travel(f"{today.isoformat()} 02:30 +0100", tick=False):
        return retention.sweep()


def refreshed(staff):
    return StaffMember.objects.get(pk=staff.pk)


@pytest.fixture
def records(cast):
    """Five records of a colleague who is still working, and a leaving date entered by mistake: the
    start date (which the leaver form now refuses; an older entry or a database repair can still hold it)."""
    with time_machine.travel(BUILT, tick=False):
        made = [signed_record(cast, days_ago=d) for d in (3, 10)] + [
            written_record(cast, days_ago=d) for d in (17, 24, 31)
        ]
    StaffMember.objects.filter(pk=cast.supervisee.pk).update(leaving_date=cast.supervisee.start_date)
    return made


def remaining(records):
    return Record.objects.filter(pk__in=[r.pk for r in records]).count()


def in_travel(today, fn, *args, **kwargs):
    with time_machine.travel(f"{today.isoformat()} 09:00 +0100", tick=False):
        return fn(*args, **kwargs)


def test_a_mistaken_leaving_date_lists_the_records_and_deletes_nothing(cast, records):
    result = sweep(TODAY)

    assert result.purged == []
    assert remaining(records) == 5
    (listed,) = result.listed
    assert (listed["staff"], listed["records"], listed["deletes_on"]) == (str(cast.supervisee.code), 5, DELETES_ON)
    assert refreshed(cast.supervisee).retention_deletes_on == DELETES_ON
    event = AuditEvent.objects.get(action="retention.listed")
    assert event.actor is None and event.object_code == str(cast.supervisee.code)
    assert event.details["deletes_on"] == DELETES_ON.isoformat()
    assert sorted(event.details["records"]) == sorted(str(r.code) for r in records)
    assert not AuditEvent.objects.filter(action="retention.record_deleted").exists()

    report = Notification.objects.get(kind=NotificationKind.RETENTION_REPORT, recipient=cast.org_admin)
    assert report.title == "Retention: the records of 1 leaver will be deleted on Wed 3 Jun 2026 unless stopped"
    assert "Their records will be deleted on Wed 3 Jun 2026 unless stopped:" in report.body
    assert "- Sid Supervisee, left Tue 1 Sep 2020: 5 records, 0 PDF files" in report.body
    assert "set a legal hold on the person's staff page before Wed 3 Jun 2026" in report.body
    assert report.url == reverse("accounts:staff-list") + "?status=listed"


def test_nothing_is_deleted_until_the_grace_period_has_passed(cast, records):
    sweep(TODAY)
    for day in (TODAY + timedelta(days=1), DELETES_ON - timedelta(days=1)):
        result = sweep(day)
        assert (result.listed, result.purged) == ([], [])
        assert remaining(records) == 5

    (purged,) = sweep(DELETES_ON).purged
    assert purged["records"] == 5 and remaining(records) == 0
    assert AuditEvent.objects.filter(action="retention.record_deleted").count() == 5
    assert (
        AuditEvent.objects.filter(action="retention.record_deleted").first().details["listed_deletion_on"]
        == DELETES_ON.isoformat()
    )


def test_the_admin_finds_the_listing_and_stops_it_with_a_legal_hold(cast, records, login):
    sweep(TODAY)
    client = login(cast.org_admin)
    report = Notification.objects.get(kind=NotificationKind.RETENTION_REPORT, recipient=cast.org_admin)

    listing = in_travel(TODAY, client.get, report.url).content.decode()
    assert "Sid Supervisee" in listing and "Records deleted Wed 3 Jun 2026 unless stopped" in listing
    assert "Sal Supervisee" not in listing and "1 leaver listed for deletion" in listing  # only those listed
    staff_url = reverse("accounts:staff-edit", kwargs={"code": cast.supervisee.code})
    page = in_travel(TODAY, client.get, staff_url).content.decode()
    assert "Listed for deletion" in page and "Wed 3 Jun 2026" in page

    hold_url = reverse("accounts:staff-legal-hold", kwargs={"code": cast.supervisee.code})
    reason = "The leaving date is wrong: she still works here"
    assert in_travel(TODAY, client.post, hold_url, {"hold": "1", "reason": reason}).status_code == 302

    stop = AuditEvent.objects.get(action="staff.legal_hold_set")
    assert stop.actor == cast.org_admin.user
    assert stop.details["reason"] == reason and stop.details["deletion_stopped"] == DELETES_ON.isoformat()
    assert refreshed(cast.supervisee).retention_deletes_on is None
    assert in_travel(TODAY, client.get, report.url).context["page"].paginator.count == 0

    assert sweep(DELETES_ON).purged == []
    assert sweep(DELETES_ON + timedelta(days=60)).purged == []
    assert remaining(records) == 5


def test_releasing_the_hold_lists_them_again_with_a_new_grace_period(cast, records, login):
    sweep(TODAY)
    client = login(cast.org_admin)
    hold_url = reverse("accounts:staff-legal-hold", kwargs={"code": cast.supervisee.code})
    in_travel(TODAY, client.post, hold_url, {"hold": "1", "reason": "A grievance"})
    released_on = TODAY + timedelta(days=40)
    in_travel(released_on, client.post, hold_url, {"hold": "0", "reason": "The grievance is closed"})

    assert sweep(released_on).listed[0]["deletes_on"] == released_on + timedelta(days=30)
    assert sweep(released_on + timedelta(days=29)).purged == []
    assert remaining(records) == 5
    assert len(sweep(released_on + timedelta(days=30)).purged) == 1
    assert remaining(records) == 0


def test_correcting_the_leaving_date_takes_them_off_the_list(cast, records, login):
    sweep(TODAY)
    client = login(cast.org_admin)
    leaver_url = reverse("accounts:staff-leaver", kwargs={"code": cast.supervisee.code})

    response = in_travel(TODAY, client.post, leaver_url, {"leaving_date": "2026-07-17"})

    assert response.status_code == 302
    assert refreshed(cast.supervisee).retention_deletes_on is None
    assert sweep(DELETES_ON).purged == [] and sweep(DELETES_ON).listed == []
    assert remaining(records) == 5


def test_a_longer_retention_period_set_during_the_grace_period_is_respected(cast, records):
    sweep(TODAY)
    cast.organisation.retention_months = 120
    cast.organisation.save(update_fields=["retention_months"])

    result = sweep(DELETES_ON)

    assert (result.listed, result.purged) == ([], [])
    assert remaining(records) == 5
