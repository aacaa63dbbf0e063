"""Retention (DESIGN sections 7 and 8, seed 000): a leaver's records go once the leaving date plus the
organisation's retention period has passed, unless a legal hold is set; each deletion is audited and
the organisation admins get a report. Since issue 11 the sweep first lists them and deletes 30 days
later (GRACE_DAYS), so `purge()` sweeps twice; tests/records/test_retention_grace.py tests the listing
and its stop. And the legal hold on the person's staff page."""

import hashlib
import importlib
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import time_machine
from dateutil.relativedelta import relativedelta
from django.apps import apps as django_apps
from django.conf import settings
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from accounts.models import AuditEvent, Role, StaffMember
from accounts.services import staff_set_legal_hold
from config import beat
from records import retention, services
from records.models import Action, Addendum, Record, RecordSection, SafeguardingDecision, Signature
from records.pdf import store_record_pdf
from records.tasks import purge_expired_records
from supervision import services as supervision_services
from supervision.models import AgendaItem, Contract, InformalNote, Notification, NotificationKind, Session
from tests.factories import PASSWORD, StaffFactory
from tests.supervision.helpers import at

from .helpers import held_session

pytestmark = pytest.mark.django_db

BUILT = "2025-03-10 09:00 +0000"  # when the records were written: a Monday
TODAY = date(2026, 5, 4)
LEFT_13_MONTHS_AGO = TODAY - relativedelta(months=13)  # Fri 4 Apr 2025
LEFT_11_MONTHS_AGO = TODAY - relativedelta(months=11)  # Wed 4 Jun 2025


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path):
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.RECORDS_SIGNING_CERT = settings.RECORDS_SIGNING_KEY = settings.RECORDS_SIGNING_KEY_PASSPHRASE = ""
    return settings.PRIVATE_ROOT


GRACE = timedelta(days=retention.GRACE_DAYS)
DELETED_ON = TODAY + GRACE


def sweep(today):
    with time_machine.travel(f"{today.isoformat()} 02:30 +0100", tick=False):
        return retention.purge_expired()


def purge(today=TODAY):
    """The sweep on `today` lists what is past its period; the sweep GRACE_DAYS later deletes it. Returns
    what that second sweep deleted. (Before the grace period, one sweep deleted on `today` itself.)"""
    assert sweep(today) == []
    return sweep(today + GRACE)


def leaves(staff, on, hold=False):
    StaffMember.objects.filter(pk=staff.pk).update(leaving_date=on, legal_hold=hold)
    staff.refresh_from_db()


def sign(record):
    services.record_submit(actor=record.supervisor, record=record)
    for attendee in record.session.attendees.all():
        services.record_sign(actor=attendee, record=record, password=PASSWORD)
    services.record_sign(actor=record.supervisor, record=record, password=PASSWORD)
    record.refresh_from_db()
    return record


def write(session, *, actions=(), text="Talked about the phonics groups"):
    """The record of a held session; actions are (description, owner)."""
    record = services.record_start(actor=session.supervisor, session=session)
    for section in record.sections.select_related("template_section"):
        services.section_save(actor=session.supervisor, section=section, discussion=f"{text}: {section}")
    for description, owner in actions:
        services.action_add(
            actor=session.supervisor, record=record, description=description, owner=owner, due_date=date(2025, 4, 1)
        )
    record.refresh_from_db()
    return record


def fake_pdf(record) -> Path:
    """A file where store_record_pdf keeps the signed PDF, with its path and hash on the record."""
    relative = Path("records") / str(record.organisation.code) / f"{record.code}.pdf"
    data = f"%PDF-1.7 record {record.code}".encode()
    path = Path(settings.PRIVATE_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    Record.objects.filter(pk=record.pk).update(pdf_path=str(relative), pdf_sha256=hashlib.sha256(data).hexdigest())
    record.refresh_from_db()
    return path


@dataclass
class World:
    leaver: StaffMember  # the cast's supervisee, left 13 months ago
    recent: StaffMember  # supervisee2, left 11 months ago
    held: StaffMember  # left 13 months ago, under a legal hold
    signed: Record  # the leaver's, with a PDF, two actions and an agenda item
    draft: Record  # the leaver's, never signed
    on_hold: Record  # the leaver's, under a legal hold of its own, with a PDF
    group: Record  # the leaver's group, with the DSL (still here)
    recent_record: Record
    held_record: Record
    pdf: Path
    on_hold_pdf: Path


def build(cast) -> World:
    held = StaffFactory(
        organisation=cast.organisation,
        user__email="hal.held@cast.example",
        user__full_name="Hal Held",
        settings=[cast.primary],
        supervisor=cast.supervisor,
    )
    with time_machine.travel(BUILT, tick=False):
        session = held_session(cast, days_ago=3)
        supervision_services.agenda_add(actor=cast.supervisee, session=session, text="My workload this half term")
        signed = sign(
            write(
                session,
                actions=[("Book the Level 3 course", cast.supervisee), ("Observe the phonics group", cast.supervisor)],
            )
        )
        draft = write(held_session(cast, days_ago=10), text="Not yet submitted")
        on_hold = sign(write(held_session(cast, days_ago=17), actions=[("Keep the evidence", cast.supervisee)]))
        Record.objects.filter(pk=on_hold.pk).update(legal_hold=True)
        group = supervision_services.group_create(
            actor=cast.supervisor,
            name="Early years reflective group",
            setting=cast.primary,
            supervisor=cast.supervisor,
            members=[cast.supervisee, cast.dsl],
            confidentiality_boundaries="Nothing leaves the room except safeguarding concerns.",
        )
        group_session = supervision_services.session_book(
            actor=cast.supervisor,
            group=group,
            starts_at=at(date(2025, 3, 3), 15),
            minutes=60,
            check=False,
            send=False,
        )
        group_record = write(group_session, text="Group reflection")
        for summary in ("Upset after a parent's complaint", "Asked about the SENCo course"):
            supervision_services.note_add(
                actor=cast.supervisor,
                supervisee=cast.supervisee,
                occurred_on=date(2025, 3, 5),
                summary=summary,
                significant=False,
            )
        recent_record = sign(write(held_session(cast, supervisee=cast.supervisee2, supervisor=cast.supervisor2)))
        held_record = sign(write(held_session(cast, supervisee=held, days_ago=4)))
    pdf, on_hold_pdf = fake_pdf(signed), fake_pdf(on_hold)
    fake_pdf(recent_record)
    fake_pdf(held_record)
    leaves(cast.supervisee, LEFT_13_MONTHS_AGO)
    leaves(cast.supervisee2, LEFT_11_MONTHS_AGO)
    leaves(held, LEFT_13_MONTHS_AGO, hold=True)
    on_hold.refresh_from_db()
    return World(
        leaver=cast.supervisee,
        recent=cast.supervisee2,
        held=held,
        signed=signed,
        draft=draft,
        on_hold=on_hold,
        group=group_record,
        recent_record=recent_record,
        held_record=held_record,
        pdf=pdf,
        on_hold_pdf=on_hold_pdf,
    )


@pytest.fixture
def world(cast) -> World:
    return build(cast)


def exists(record) -> bool:
    return Record.objects.filter(pk=record.pk).exists()


def reports():
    return Notification.objects.filter(kind=NotificationKind.RETENTION_REPORT)


def deletion_report(**kwargs):
    """The report of the sweep that deleted (the other one, GRACE_DAYS before, listed)."""
    return reports().get(period__startswith=f"{DELETED_ON.isoformat()}/", **kwargs)


# --- Who is purged -----------------------------------------------------------------------------------


def test_a_leaver_who_left_13_months_ago_is_purged(world):
    sessions = list(Session.objects.filter(attendees=world.leaver).values_list("pk", flat=True))
    contracts = Contract.objects.filter(supervisee=world.leaver).count()
    signed_id, draft_id = world.signed.pk, world.draft.pk
    assert Action.objects.filter(record=world.signed).count() == 2
    assert AgendaItem.objects.filter(session__record=world.signed).count() == 1
    assert world.pdf.is_file()

    (outcome,) = purge()

    assert not exists(world.signed) and not exists(world.draft)
    assert not world.pdf.exists()
    for model in (RecordSection, Action, Signature, SafeguardingDecision, Addendum):
        assert not model.objects.filter(record_id__in=[signed_id, draft_id]).exists()
    assert not InformalNote.objects.filter(supervisee=world.leaver).exists()
    assert not AgendaItem.objects.filter(session_id__in=sessions).exists()
    # The compliance history stays: every session (dates, status) and every agreement.
    assert Session.objects.filter(pk__in=sessions).count() == len(sessions) == 4
    assert Contract.objects.filter(supervisee=world.leaver).count() == contracts
    assert outcome["staff"] == str(world.leaver.code)
    assert {k: outcome[k] for k in ("records", "pdf_files", "actions", "informal_notes", "agenda_items")} == {
        "records": 2,
        "pdf_files": 1,
        "actions": 2,
        "informal_notes": 2,
        "agenda_items": 1,
    }
    assert (outcome["kept_shared"], outcome["kept_record_hold"], outcome["kept_safeguarding"]) == (1, 1, 0)


def test_a_record_under_its_own_legal_hold_is_kept_with_its_pdf_and_actions(world):
    purge()
    assert exists(world.on_hold)
    assert world.on_hold_pdf.is_file()
    assert Action.objects.filter(record=world.on_hold).count() == 1
    assert Signature.objects.filter(record=world.on_hold).count() == 2


def test_a_group_record_stays_while_another_participant_is_still_here(world, cast):
    purge()
    assert exists(world.group)

    # Once the DSL has left too and their period has passed, nobody needs it.
    leaves(cast.dsl, LEFT_13_MONTHS_AGO)
    purge(TODAY + timedelta(days=1))
    assert not exists(world.group)


def test_a_leaver_inside_the_period_or_under_a_legal_hold_is_kept(world):
    purge()
    assert exists(world.recent_record) and exists(world.held_record)
    assert InformalNote.objects.filter(supervisee=world.leaver).count() == 0
    assert (Path(settings.PRIVATE_ROOT) / world.held_record.pdf_path).is_file()
    assert (Path(settings.PRIVATE_ROOT) / world.recent_record.pdf_path).is_file()


def test_the_period_ends_a_calendar_year_after_the_leaving_date(cast):
    with time_machine.travel(BUILT, tick=False):
        record = write(held_session(cast))
    leaves(cast.supervisee, date(2025, 3, 31))

    assert sweep(date(2026, 3, 31)) == []  # the last day it is kept
    cast.supervisee.refresh_from_db()
    assert cast.supervisee.retention_deletes_on is None
    assert sweep(date(2026, 4, 1)) == []  # the day after: listed, not deleted
    cast.supervisee.refresh_from_db()
    assert cast.supervisee.retention_deletes_on == date(2026, 5, 1)
    assert sweep(date(2026, 4, 30)) == []  # the grace period
    assert exists(record)
    assert len(sweep(date(2026, 5, 1))) == 1  # 30 days after the listing
    assert not exists(record)


def test_the_organisations_retention_period_is_respected(world, cast):
    cast.organisation.retention_months = 24
    cast.organisation.save(update_fields=["retention_months"])

    assert purge() == []
    assert exists(world.signed)

    leaves(cast.supervisee, TODAY - relativedelta(months=25))
    purge()
    assert not exists(world.signed)


def test_a_record_with_a_decision_not_yet_on_the_childs_file_is_kept(cast):
    with time_machine.travel(BUILT, tick=False):
        confirmed = write(held_session(cast, days_ago=3))
        unconfirmed = write(held_session(cast, days_ago=10))
        for record in (confirmed, unconfirmed):
            services.decision_add(
                actor=cast.supervisor,
                record=record,
                child_reference="CP-2025-0142",
                decision="Refer to early help",
                key_person=cast.dsl,
            )
        decision = SafeguardingDecision.objects.get(record=confirmed)
        services.decision_confirm(
            actor=cast.dsl, decision=decision, recorded_on=date(2025, 3, 10), external_reference="CPOMS 1"
        )
    leaves(cast.supervisee, LEFT_13_MONTHS_AGO)

    (outcome,) = purge()
    assert not exists(confirmed)
    assert exists(unconfirmed)
    assert outcome["kept_safeguarding"] == 1
    assert "1 record with a safeguarding decision not yet confirmed" in deletion_report().body


# --- Audit and report --------------------------------------------------------------------------------


def test_each_deletion_writes_an_audit_event(world):
    signed_code, signed_hash, pdf_hash = str(world.signed.code), world.signed.content_hash, world.signed.pdf_sha256
    draft_code, draft_hash = str(world.draft.code), services.content_hash(world.draft)
    purge()

    events = {e.object_code: e for e in AuditEvent.objects.filter(action="retention.record_deleted")}
    assert set(events) == {signed_code, draft_code}
    signed = events[signed_code]
    assert signed.actor is None and signed.organisation_id == world.leaver.organisation_id
    assert signed.object_type == "record"
    assert signed.details["leaving_date"] == LEFT_13_MONTHS_AGO.isoformat()
    assert signed.details["retention_months"] == 12
    assert signed.details["person"] == str(world.leaver.code)
    assert signed.details["sha256"] == {"content": signed_hash, "pdf": pdf_hash, "addenda": []}
    assert signed.details["counts"]["actions"] == 2 and signed.details["counts"]["signatures"] == 2
    assert signed.details["pdf_file_deleted"] is True
    assert events[draft_code].details["sha256"]["content"] == draft_hash
    assert events[draft_code].details["pdf_file_deleted"] is False

    notes = AuditEvent.objects.get(action="retention.notes_deleted")
    assert (notes.object_type, notes.object_code) == ("staffmember", str(world.leaver.code))
    assert notes.details["counts"] == {"informal_notes": 2, "agenda_items": 1}
    assert len(notes.details["sha256"]["informal_notes"]) == 2
    assert all(len(digest) == 64 for digest in notes.details["sha256"]["agenda_items"])


def test_the_admins_report_lists_who_was_purged_and_who_is_kept_under_a_hold(world, cast):
    setting_admin = StaffFactory(
        organisation=cast.organisation, settings=[cast.secondary], roles=[(Role.ORG_ADMIN, cast.secondary)]
    )
    purge()

    report = deletion_report()  # the secondary's admin has nobody of theirs to hear about
    assert report.recipient == cast.org_admin != setting_admin
    assert report.object_type == "organisation" and report.object_code == str(cast.organisation.code)
    assert report.period.startswith(f"{DELETED_ON.isoformat()}/")
    # The audit trail's page when the product has one, else the leavers.
    assert report.url in ("/audit/", "/staff/?status=leavers")
    assert Client().get(report.url).status_code == 302  # a real page (signing in first)
    assert "Sid Supervisee, left Fri 4 Apr 2025: deleted 2 records, 1 PDF file, 2 actions" in report.body
    assert "2 informal notes, 1 agenda item" in report.body
    assert "1 group record shared with people whose records are kept; 1 record under a legal hold" in report.body
    kept = report.body.split("Kept because of a legal hold on the person")[1]
    assert "Hal Held, left Fri 4 Apr 2025" in kept
    assert "Sal Supervisee" not in report.body  # left 11 months ago: nothing to say


def test_a_setting_admin_hears_about_the_people_of_their_setting(world, cast):
    primary_admin = StaffFactory(
        organisation=cast.organisation, settings=[cast.primary], roles=[(Role.ORG_ADMIN, cast.primary)]
    )
    purge()
    assert set(reports().values_list("recipient", flat=True)) == {cast.org_admin.pk, primary_admin.pk}


def test_running_again_deletes_nothing_more_and_sends_no_second_report(world):
    assert len(purge()) == 1
    events = AuditEvent.objects.count()

    assert purge() == []
    assert purge(TODAY + timedelta(days=1)) == []  # what stays (held, shared) is not reported again
    assert AuditEvent.objects.count() == events
    assert reports().count() == 2  # the listing's, and the deletion's
    assert exists(world.on_hold) and exists(world.group) and exists(world.held_record)


def test_nothing_to_purge_sends_no_report(cast):
    leaves(cast.supervisee, LEFT_13_MONTHS_AGO)  # a leaver with no records
    assert purge() == []
    assert not reports().exists()
    assert not AuditEvent.objects.filter(action__startswith="retention.").exists()


def test_one_failure_does_not_undo_the_others(world, cast, monkeypatch):
    leaves(cast.supervisee2, LEFT_13_MONTHS_AGO)

    def refuse(path):
        if path == world.pdf.resolve():
            raise PermissionError(path)
        path.unlink()

    monkeypatch.setattr(retention, "_delete_file", refuse)
    (outcome,) = purge()

    assert outcome["staff"] == str(cast.supervisee2.code)
    assert not exists(world.recent_record)
    # The leaver's transaction rolled back whole: rows, events and the file; tomorrow's run retries.
    assert exists(world.signed) and exists(world.draft) and world.pdf.is_file()
    assert InformalNote.objects.filter(supervisee=world.leaver).count() == 2
    assert not AuditEvent.objects.filter(action__startswith="retention.", details__person=str(world.leaver.code))
    assert "Sid Supervisee" not in deletion_report().body

    monkeypatch.undo()
    (outcome,) = purge(TODAY + timedelta(days=1))
    assert outcome["staff"] == str(world.leaver.code)
    assert not exists(world.signed) and not world.pdf.exists()


def test_a_second_purge_the_same_day_has_a_report_of_its_own(world, cast, monkeypatch):
    # The 02:30 run fails for the leaver (the file could not be deleted); the admin has it put right and
    # the sweep is run again that afternoon: what the second run deleted must reach the admins too.
    leaves(cast.supervisee2, LEFT_13_MONTHS_AGO)

    def refuse(path):
        if path == world.pdf.resolve():
            raise PermissionError(path)
        path.unlink()

    monkeypatch.setattr(retention, "_delete_file", refuse)
    (first,) = purge()
    monkeypatch.undo()
    with time_machine.travel(f"{DELETED_ON.isoformat()} 15:00 +0100", tick=False):
        (second,) = retention.purge_expired()

    assert (first["staff"], second["staff"]) == (str(cast.supervisee2.code), str(world.leaver.code))
    deletions = reports().filter(recipient=cast.org_admin, period__startswith=f"{DELETED_ON.isoformat()}/")
    bodies = sorted(deletions.values_list("body", flat=True), key=lambda body: "Sid Supervisee" in body)
    assert len(bodies) == 2
    assert "Sal Supervisee" in bodies[0] and "Sid Supervisee" not in bodies[0]
    assert "Sid Supervisee, left Fri 4 Apr 2025: deleted 2 records" in bodies[1]
    # Running again that day deletes nothing and sends nothing more.
    with time_machine.travel(f"{DELETED_ON.isoformat()} 16:00 +0100", tick=False):
        assert retention.purge_expired() == []
    assert deletions.count() == 2


def test_the_same_run_delivered_twice_reports_once():
    purged = [{"staff": "a"}, {"staff": "b"}]
    assert retention.report_period(DELETED_ON, purged, []) == retention.report_period(DELETED_ON, purged[::-1], [])
    assert retention.report_period(DELETED_ON, purged, []) != retention.report_period(DELETED_ON, purged[:1], [])
    assert retention.report_period(DELETED_ON, purged, []) != retention.report_period(DELETED_ON, [], purged)
    assert len(retention.report_period(DELETED_ON, purged, [])) <= 40  # Notification.period


def test_a_real_signed_pdf_is_deleted(cast):
    with time_machine.travel(BUILT, tick=False):
        record = sign(write(held_session(cast)))
    path = store_record_pdf(record.pk)
    assert path.is_file()
    leaves(cast.supervisee, LEFT_13_MONTHS_AGO)

    (outcome,) = purge()
    assert outcome["pdf_files"] == 1
    assert not path.exists()


def test_a_hold_set_on_the_staff_page_stops_the_purge(world, cast):
    staff_set_legal_hold(actor=cast.org_admin.user, staff=world.leaver, hold=True, reason="Employment tribunal claim")
    assert purge() == []
    assert exists(world.signed) and world.pdf.is_file()


# --- The schedule ------------------------------------------------------------------------------------


def test_the_task_runs_the_sweep(world):
    with time_machine.travel(f"{TODAY.isoformat()} 02:30 +0100", tick=False):
        assert purge_expired_records.delay().get() == 0  # listed
    assert exists(world.signed)
    with time_machine.travel(f"{DELETED_ON.isoformat()} 02:30 +0100", tick=False):
        assert purge_expired_records.delay().get() == 1
    assert not exists(world.signed)


def test_the_migration_installs_the_daily_schedule_once():
    task = PeriodicTask.objects.get(name="records: purge expired records")
    assert task.task == "records.purge_expired_records" and task.enabled
    assert (task.crontab.minute, task.crontab.hour, str(task.crontab.timezone)) == ("30", "2", "Europe/London")
    assert (task.crontab.day_of_week, task.crontab.day_of_month, task.crontab.month_of_year) == ("*", "*", "*")

    migration = importlib.import_module("records.migrations.0002_retention_schedule")
    beat.install(django_apps, migration.TASKS)
    beat.install(django_apps, migration.TASKS)
    assert PeriodicTask.objects.filter(task="records.purge_expired_records").count() == 1


# --- The legal hold on the staff page ----------------------------------------------------------------


def hold_url(staff):
    return reverse("accounts:staff-legal-hold", kwargs={"code": staff.code})


def test_the_org_admin_sets_and_releases_a_legal_hold(cast, login):
    client = login(cast.org_admin)
    page = client.get(reverse("accounts:staff-edit", kwargs={"code": cast.supervisee.code})).content.decode()
    assert "Set a legal hold" in page and hold_url(cast.supervisee) in page

    response = client.post(hold_url(cast.supervisee), {"hold": "1", "reason": "Employment tribunal claim"})
    assert response.status_code == 302
    assert response["Location"].endswith(f"/staff/{cast.supervisee.code}/#legal-hold")
    cast.supervisee.refresh_from_db()
    assert cast.supervisee.legal_hold
    event = AuditEvent.objects.get(action="staff.legal_hold_set")
    assert event.actor == cast.org_admin.user and event.object_code == str(cast.supervisee.code)
    assert event.details["reason"] == "Employment tribunal claim"
    page = client.get(response["Location"]).content.decode()
    assert "Release the hold" in page and "Employment tribunal claim" in page

    client.post(hold_url(cast.supervisee), {"hold": "0", "reason": "The claim was withdrawn"})
    cast.supervisee.refresh_from_db()
    assert not cast.supervisee.legal_hold
    assert AuditEvent.objects.get(action="staff.legal_hold_released").details["reason"] == "The claim was withdrawn"


def test_a_hold_needs_a_reason_and_a_repeat_changes_nothing(cast, login):
    client = login(cast.org_admin)
    response = client.post(hold_url(cast.supervisee), {"hold": "1", "reason": "  "}, follow=True)
    assert "Say why the legal hold is set or released." in response.content.decode()
    cast.supervisee.refresh_from_db()
    assert not cast.supervisee.legal_hold

    client.post(hold_url(cast.supervisee), {"hold": "1", "reason": "A complaint"})
    response = client.post(hold_url(cast.supervisee), {"hold": "1", "reason": "A complaint"}, follow=True)
    assert "Nothing had changed." in response.content.decode()
    assert AuditEvent.objects.filter(action__startswith="staff.legal_hold").count() == 1


def test_the_legal_hold_is_for_the_organisations_admins_only(cast, login):
    data = {"hold": "1", "reason": "A complaint"}
    assert login(cast.supervisor).post(hold_url(cast.supervisee), data).status_code == 403
    assert login(cast.outsider).post(hold_url(cast.supervisee), data).status_code == 404
    assert login(cast.org_admin).get(hold_url(cast.supervisee)).status_code == 405
    cast.supervisee.refresh_from_db()
    assert not cast.supervisee.legal_hold
    assert not AuditEvent.objects.filter(action__startswith="staff.legal_hold").exists()


# --- Two sweeps at once (PostgreSQL: row locks) --------------------------------------------------------


@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="SQLite runs one writer at a time; the row lock is PostgreSQL's",
)
# Committed data, so two connections see it; the serialized rollback puts back what migrations wrote
# (the beat schedule) for the tests that follow.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweeps_at_once_delete_and_audit_everything_once(cast, monkeypatch):
    world = build(cast)
    queued = []
    monkeypatch.setattr("supervision.tasks.deliver_notification.delay", queued.append)
    assert retention.purge_expired(TODAY) == []  # listed; the threads below sweep when it is due
    inside, release = threading.Event(), threading.Event()

    def slow_delete(path):
        # The first sweep holds the leaver's row here until the second is seen waiting for it.
        inside.set()
        assert release.wait(10)
        path.unlink()

    monkeypatch.setattr(retention, "_delete_file", slow_delete)
    results = {}

    def sweep(name):
        try:
            # Not purge(): time-machine's travel is process-wide, and the threads would stack it.
            results[name] = retention.purge_expired(DELETED_ON)
        finally:
            connections.close_all()

    first = threading.Thread(target=sweep, args=("first",))
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=sweep, args=("second",))
    second.start()
    with connection.cursor() as cursor:
        for _ in range(500):
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            if cursor.fetchone()[0]:
                break
            threading.Event().wait(0.01)
        else:
            pytest.fail("the second sweep never waited for the leaver's row")
    release.set()
    first.join(10)
    second.join(10)

    assert [len(results["first"]), len(results["second"])] == [1, 0]
    assert not exists(world.signed) and not world.pdf.exists()
    assert AuditEvent.objects.filter(action="retention.record_deleted").count() == 2
    assert AuditEvent.objects.filter(action="retention.notes_deleted").count() == 1
    assert reports().count() == 2 and len(queued) == 2  # the listing's report, and the deletion's


def test_the_schedule_is_still_there_after_the_transactional_test():
    # Runs after the test above: the flush at its end must not lose what the migrations installed.
    assert PeriodicTask.objects.filter(name="records: purge expired records").exists()
