"""Builders for record tests: a held session with a record in a given state."""

from datetime import date, timedelta

from django.utils import timezone

from records import services
from supervision import services as supervision_services
from tests.factories import PASSWORD
from tests.supervision.helpers import at, signed_contract


def held_session(cast, *, supervisee=None, supervisor=None, days_ago=2):
    supervisee = supervisee or cast.supervisee
    supervisor = supervisor or cast.supervisor
    from supervision.models import Contract

    contract = Contract.objects.filter(supervisee=supervisee, supervisor=supervisor, end_date__isnull=True).first()
    contract = contract or signed_contract(supervisee, supervisor, start=date(2024, 9, 2))
    day = timezone.localdate() - timedelta(days=days_ago)
    return supervision_services.session_book(
        actor=supervisor, contract=contract, starts_at=at(day, 10), minutes=30, check=False, send=False
    )


def written_record(cast, **kwargs):
    session = held_session(cast, **kwargs)
    record = services.record_start(actor=session.supervisor, session=session)
    for i, section in enumerate(record.sections.select_related("template_section")):
        services.section_save(actor=session.supervisor, section=section, discussion=f"Discussion {i}: {section}")
    record.refresh_from_db()
    return record


def signed_record(cast, **kwargs):
    return sign_off(written_record(cast, **kwargs))


def sign_off(record):
    """Submit a written record; everyone in the session signs, then the supervisor: it locks."""
    supervisor = record.supervisor
    services.record_submit(actor=supervisor, record=record)
    for attendee in record.session.attendees.all():
        services.record_sign(actor=attendee, record=record, password=PASSWORD)
    services.record_sign(actor=supervisor, record=record, password=PASSWORD)
    record.refresh_from_db()
    return record


def approve_grant(cast, grant):
    """The second person approves the grant: the head of the primary school when it covers only that
    school, otherwise a second organisation admin."""
    from accounts.models import StaffMember
    from records.oversight import auditor_grant_approve
    from tests.factories import StaffFactory

    if all(s.id == cast.primary.id for s in grant.settings.all()):
        approver = cast.head
    else:
        approver = StaffMember.objects.filter(user__email="second-admin@cast.example").first() or StaffFactory(
            organisation=cast.organisation, settings=[cast.primary], roles=[("org_admin", None)],
            user__email="second-admin@cast.example", user__full_name="Second Admin",
        )  # fmt: skip
    return auditor_grant_approve(actor=approver, grant=grant)


def live_grant(cast, *, settings=None, covers_from=date(2020, 1, 1), covers_until=date(2030, 12, 31), days=30):
    """An auditor grant for the cast's auditor, asked for by the organisation admin and approved by a
    second person (`approve_grant`): live now."""
    from records.oversight import auditor_grant_create

    grant = auditor_grant_create(
        actor=cast.org_admin, auditor=cast.auditor, settings=settings or [cast.primary, cast.secondary],
        covers_from=covers_from, covers_until=covers_until, expires_at=timezone.now() + timedelta(days=days),
        purpose="Inspection",
    )  # fmt: skip
    return approve_grant(cast, grant)


class _NotRun:
    def apply_async(self):
        return None


def hold_back_export_renders(monkeypatch) -> list:
    """The render tasks an auditor's export hands the workers, kept rather than run, and its later looks not
    run either (Celery is eager in tests), so a test can play the workers' part one PDF at a time."""
    from records import tasks

    held = []
    monkeypatch.setattr(tasks, "group", lambda signatures: held.extend(signatures) or _NotRun())
    original = tasks.run_export.apply_async

    def first_delivery_only(args, kwargs=None, **options):
        return None if kwargs else original(args, kwargs, **options)

    monkeypatch.setattr(tasks.run_export, "apply_async", first_delivery_only)
    return held
