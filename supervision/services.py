"""Every change to agreements, the calendar and sessions, with its audit event.

Invitations (iCalendar) go out after the transaction commits: `tasks.send_session_invites` builds them with `ical.py`.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from accounts.audit import audit_event
from accounts.imports import pending_import_discard
from accounts.models import Frequency, Organisation, PendingImport, Setting, StaffMember
from accounts.reauth import confirm_password

from . import defaults
from .models import (
    TERM_ORDER,
    AcademicYear,
    AgendaItem,
    CalendarFeed,
    ClosureDay,
    Contract,
    ContractTemplate,
    FrequencyOverride,
    HalfTerm,
    InformalNote,
    NotificationKind,
    Session,
    SessionKind,
    SessionStatus,
    SupervisionGroup,
)
from .notify import OVERDUE_KINDS, REVIEW_KINDS, notifications_done, notify
from .rules import FREQUENCY_RANK
from .school_calendar import academic_year_name, bank_holidays_england, default_half_terms
from .slots import Availability


def _queue_invites(session_id: int, method: str) -> None:
    from .tasks import send_session_invites

    transaction.on_commit(lambda: send_session_invites.delay(session_id, method))


# --- Calendar -----------------------------------------------------------------------------------


@transaction.atomic
def calendar_generate_default(*, organisation: Organisation, start_year: int, actor=None) -> AcademicYear | None:
    """Create the default English academic year starting in September of `start_year`, once."""
    name = academic_year_name(start_year)
    if AcademicYear.objects.filter(organisation=organisation, name=name).exists():
        return None
    halves = default_half_terms(start_year)
    year = AcademicYear.objects.create(
        organisation=organisation, name=name, starts=halves[0].starts, ends=halves[-1].ends
    )
    for h in halves:
        HalfTerm.objects.create(
            organisation=organisation, academic_year=year, term=h.term, half=h.half, starts=h.starts, ends=h.ends
        )
    existing = set(
        ClosureDay.objects.filter(
            organisation=organisation, setting__isnull=True, date__range=(year.starts, year.ends)
        ).values_list("date", flat=True)
    )
    for day, holiday in bank_holidays_england([start_year, start_year + 1]).items():
        if year.starts <= day <= year.ends and day not in existing:
            ClosureDay.objects.create(
                organisation=organisation, date=day, kind=ClosureDay.Kind.BANK_HOLIDAY, name=holiday
            )
    audit_event(
        action="calendar.year_generated", actor=actor, organisation=organisation, details={"academic_year": name}
    )
    return year


def ensure_calendar(organisation: Organisation, today: date | None = None) -> None:
    """The default calendar for this academic year and the next, where the organisation has none yet."""
    today = today or timezone.localdate()
    this_year = today.year if today.month >= 8 else today.year - 1
    wanted = {academic_year_name(start_year): start_year for start_year in (this_year, this_year + 1)}
    # One query when both years are there, as on every page that calls this after the first: not a
    # transaction a year (`calendar_generate_default` looks again under its own, so two at once make one).
    have = set(AcademicYear.objects.filter(organisation=organisation, name__in=wanted).values_list("name", flat=True))
    for name, start_year in wanted.items():
        if name not in have:
            calendar_generate_default(organisation=organisation, start_year=start_year)


# --- Agreements ---------------------------------------------------------------------------------


def contract_template_for(organisation: Organisation) -> ContractTemplate:
    template, _ = ContractTemplate.objects.get_or_create(
        organisation=organisation,
        defaults={
            "purpose": defaults.PURPOSE,
            "supervisor_responsibilities": defaults.SUPERVISOR_RESPONSIBILITIES,
            "supervisee_responsibilities": defaults.SUPERVISEE_RESPONSIBILITIES,
            "confidentiality_terms": defaults.CONFIDENTIALITY_TERMS,
        },
    )
    return template


def contract_content_hash(contract: Contract) -> str:
    """SHA-256 of what the parties sign: who, how often, how long, where, and the wording."""
    content = {
        "supervisee": str(contract.supervisee.code),
        "supervisor": str(contract.supervisor.code),
        "kind": contract.kind,
        "frequency": contract.frequency,
        "session_minutes": contract.session_minutes,
        "venue": contract.venue,
        "purpose": contract.purpose,
        "supervisor_responsibilities": contract.supervisor_responsibilities,
        "supervisee_responsibilities": contract.supervisee_responsibilities,
        "confidentiality_terms": contract.confidentiality_terms,
        "start_date": contract.start_date.isoformat(),
        "review_date": contract.review_date.isoformat(),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


@transaction.atomic
def contract_create(
    *,
    actor: StaffMember,
    supervisee: StaffMember,
    supervisor: StaffMember,
    start_date: date,
    frequency: str = Frequency.HALF_TERMLY,
    session_minutes: int = 30,
    venue: str = "",
    confidentiality_terms: str | None = None,
    previous: Contract | None = None,
    request=None,
) -> Contract:
    if supervisee.pk == supervisor.pk:
        raise ValidationError({"supervisor": "A person cannot supervise themselves."})
    if supervisee.organisation_id != supervisor.organisation_id:
        raise ValidationError({"supervisor": "The supervisor must be in the same organisation."})
    if Contract.objects.filter(supervisee=supervisee, kind=SessionKind.ONE_TO_ONE, end_date__isnull=True).exists():
        raise ValidationError(
            {"supervisee": f"{supervisee.full_name} already has a current agreement: change its supervisor instead."}
        )
    template = contract_template_for(supervisee.organisation)
    contract = Contract.objects.create(
        organisation=supervisee.organisation,
        supervisee=supervisee,
        supervisor=supervisor,
        frequency=frequency,
        session_minutes=session_minutes,
        venue=venue,
        purpose=template.purpose,
        supervisor_responsibilities=template.supervisor_responsibilities,
        supervisee_responsibilities=template.supervisee_responsibilities,
        confidentiality_terms=confidentiality_terms
        if confidentiality_terms is not None
        else template.confidentiality_terms,
        start_date=start_date,
        review_date=start_date.replace(year=start_date.year + 1) - timedelta(days=1)
        if not (start_date.month == 2 and start_date.day == 29)
        else date(start_date.year + 1, 2, 28),
        previous=previous,
        created_by=actor,
    )
    if supervisee.supervisor_id != supervisor.id:
        supervisee.supervisor = supervisor
        supervisee.save(update_fields=["supervisor", "updated_at"])
    audit_event(
        action="contract.created",
        actor=actor.user if actor else None,
        obj=contract,
        request=request,
        details={"supervisee": supervisee.full_name, "supervisor": supervisor.full_name, "frequency": frequency},
    )
    return contract


def contract_request_signatures(*, contract: Contract) -> int:
    """Ask each party who has not signed the agreement yet to read and sign it: a notification in the
    product and its email (supervision/notify.py). Once per person and agreement, however often it is
    called. Returns how many requests were recorded now."""
    url = reverse("supervision:contract-detail", kwargs={"code": contract.code})
    asked = 0
    for person, signed_at, other in (
        (contract.supervisee, contract.supervisee_signed_at, contract.supervisor),
        (contract.supervisor, contract.supervisor_signed_at, contract.supervisee),
    ):
        if signed_at is not None:
            continue
        if person.pk == contract.supervisee_id:
            body = f"Your supervision agreement with {other.full_name} is ready. Read it and sign it in Supervision."
        else:
            body = (
                f"The supervision agreement of {other.full_name}, whom you supervise, is ready. "
                "Read it and sign it in Supervision."
            )
        made = notify(
            recipient=person,
            kind=NotificationKind.CONTRACT_TO_SIGN,
            object_type="contract",
            object_code=contract.code,
            period="created",
            title="A supervision agreement to read and sign",
            body=body,
            url=url,
        )
        asked += made is not None
    return asked


@transaction.atomic
def contract_update(*, actor: StaffMember, contract: Contract, changes: dict, request=None) -> bool:
    """Change terms. Any change after a signature voids the signatures: both sign again."""
    if contract.end_date:
        raise ValidationError("An ended agreement cannot change.")
    changed = {k: [getattr(contract, k), v] for k, v in changes.items() if getattr(contract, k) != v}
    if not changed:
        return False
    for key, value in changes.items():
        setattr(contract, key, value)
    voided = contract.supervisee_signed_at is not None or contract.supervisor_signed_at is not None
    contract.supervisee_signed_at = contract.supervisor_signed_at = None
    contract.signed_hash = ""
    contract.save()
    audit_event(
        action="contract.updated",
        actor=actor.user,
        obj=contract,
        request=request,
        details={"changes": {k: [str(a), str(b)] for k, (a, b) in changed.items()}, "signatures_voided": voided},
    )
    return True


def contract_sign(*, signer: StaffMember, contract: Contract, password: str, request=None) -> str:
    """The supervisee or the supervisor signs, re-entering their password. Returns the capacity.

    The password is checked before the transaction, so a wrong one counts towards the lockout and its
    audit event stays."""
    confirm_password(user=signer.user, password=password, request=request, purpose="contract.sign", obj=contract)
    return _contract_sign(signer=signer, contract=contract, request=request)


@transaction.atomic
def _contract_sign(*, signer: StaffMember, contract: Contract, request=None) -> str:
    if contract.end_date:
        raise ValidationError("An ended agreement cannot be signed.")
    content_hash = contract_content_hash(contract)
    if contract.signed_hash and contract.signed_hash != content_hash:
        # The wording changed under an earlier signature: it no longer stands.
        contract.supervisee_signed_at = contract.supervisor_signed_at = None
    now = timezone.now()
    if signer.pk == contract.supervisee_id:
        capacity = "supervisee"
        if contract.supervisee_signed_at:
            raise ValidationError("You have already signed this agreement.")
        contract.supervisee_signed_at = now
    elif signer.pk == contract.supervisor_id:
        capacity = "supervisor"
        if contract.supervisor_signed_at:
            raise ValidationError("You have already signed this agreement.")
        contract.supervisor_signed_at = now
    else:
        raise ValidationError("Only the supervisee and the supervisor sign an agreement.")
    contract.signed_hash = content_hash
    contract.save(update_fields=["supervisee_signed_at", "supervisor_signed_at", "signed_hash"])
    notifications_done(
        object_type="contract", object_code=contract.code, kinds=[NotificationKind.CONTRACT_TO_SIGN], recipient=signer
    )
    audit_event(
        action="contract.signed",
        actor=signer.user,
        obj=contract,
        request=request,
        details={"capacity": capacity, "sha256": content_hash, "active": contract.is_signed},
    )
    return capacity


@transaction.atomic
def contract_end(*, actor: StaffMember, contract: Contract, end_date: date, reason: str, request=None) -> None:
    if contract.end_date:
        raise ValidationError("This agreement has already ended.")
    if end_date < contract.start_date:
        raise ValidationError({"end_date": "An agreement cannot end before it starts."})
    contract.end_date = end_date
    contract.end_reason = reason
    contract.save(update_fields=["end_date", "end_reason"])
    # An ended agreement (reviewed and renewed, handed to a new supervisor) asks nothing more of anyone.
    notifications_done(
        object_type="contract", object_code=contract.code,
        kinds=[*REVIEW_KINDS, *OVERDUE_KINDS, NotificationKind.CONTRACT_TO_SIGN],
    )  # fmt: skip
    audit_event(
        action="contract.ended",
        actor=actor.user,
        obj=contract,
        request=request,
        details={"end_date": end_date.isoformat(), "reason": reason},
    )


@transaction.atomic
def contract_change_supervisor(
    *, actor: StaffMember, contract: Contract, supervisor: StaffMember, on: date, request=None
) -> Contract:
    """End the agreement the day before `on` and start a new one with the new supervisor (history kept)."""
    if supervisor.pk == contract.supervisor_id:
        raise ValidationError({"supervisor": "That is already the supervisor."})
    return _succeed(
        actor=actor, contract=contract, supervisor=supervisor, on=on,
        reason=f"Supervisor changed to {supervisor.full_name}", request=request,
    )  # fmt: skip


@transaction.atomic
def contract_renew(*, actor: StaffMember, contract: Contract, on: date, request=None) -> Contract:
    """The annual review: a new agreement with the same terms, for both to read and sign again."""
    return _succeed(
        actor=actor, contract=contract, supervisor=contract.supervisor, on=on, reason="Reviewed", request=request
    )


def _succeed(*, actor, contract: Contract, supervisor: StaffMember, on: date, reason: str, request) -> Contract:
    """End `contract` the day before `on` and start its successor with the same terms."""
    contract_end(
        actor=actor, contract=contract, end_date=max(contract.start_date, on - timedelta(days=1)), reason=reason,
        request=request,
    )  # fmt: skip
    return contract_create(
        actor=actor,
        supervisee=contract.supervisee,
        supervisor=supervisor,
        start_date=on,
        frequency=contract.frequency,
        session_minutes=contract.session_minutes,
        venue=contract.venue,
        confidentiality_terms=contract.confidentiality_terms,
        previous=contract,
        request=request,
    )


@transaction.atomic
def override_add(
    *, actor: StaffMember, contract: Contract, frequency: str, reason: str, starts: date, ends: date, request=None
) -> FrequencyOverride:
    if FREQUENCY_RANK[frequency] <= FREQUENCY_RANK[contract.frequency]:
        raise ValidationError(
            {"frequency": "An override raises the frequency: choose one more frequent than the agreement's."}
        )
    if ends < starts:
        raise ValidationError({"ends": "The override must end on or after the day it starts."})
    if not reason.strip():
        raise ValidationError({"reason": "Say why supervision is more frequent."})
    override = FrequencyOverride.objects.create(
        contract=contract, frequency=frequency, reason=reason.strip(), starts=starts, ends=ends, created_by=actor
    )
    audit_event(
        action="contract.override_added",
        actor=actor.user,
        obj=contract,
        request=request,
        details={"frequency": frequency, "reason": reason, "starts": starts.isoformat(), "ends": ends.isoformat()},
    )
    return override


# --- Sessions -----------------------------------------------------------------------------------


def session_people(*, contract: Contract | None = None, group: SupervisionGroup | None = None):
    """(supervisor, attendees, setting) of a 1:1 agreement or a group."""
    if contract is not None:
        # An open setting first: a closed one only when the person has no other (their history stays there).
        setting = (
            contract.supervisee.settings.order_by(F("closed_on").asc(nulls_first=True), "name").first()
            or contract.supervisor.settings.order_by(F("closed_on").asc(nulls_first=True), "name").first()
        )
        return contract.supervisor, [contract.supervisee], setting
    return group.supervisor, list(group.members.all()), group.setting


def check_time(
    *, supervisor, attendees, setting, starts_at: datetime, minutes: int, ignore_session_id=None
) -> list[str]:
    day = starts_at.date()
    availability = Availability(
        setting.organisation, [supervisor, *attendees], day - timedelta(days=1), day + timedelta(days=1)
    )
    return availability.problems(
        supervisor=supervisor,
        attendees=attendees,
        setting=setting,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        ignore_session_id=ignore_session_id,
    )


@transaction.atomic
def session_book(
    *,
    actor: StaffMember,
    starts_at: datetime,
    minutes: int,
    contract: Contract | None = None,
    group: SupervisionGroup | None = None,
    venue: str = "",
    rebooked_from: Session | None = None,
    request=None,
    check: bool = True,
    send: bool = True,
    past_as_held: bool = False,
) -> Session:
    """Book a 1:1 (for an agreement) or a group session after checking the time suits everyone.

    A time that has already begun sends no invitation (nobody needs a calendar entry for the past);
    with `past_as_held` (the booking page) it records a session that took place: it is booked as held.
    """
    if (contract is None) == (group is None):
        raise ValueError("A session is for an agreement or for a group")
    if contract is not None and contract.end_date and contract.end_date < starts_at.date():
        raise ValidationError("This agreement has ended.")
    supervisor, attendees, setting = session_people(contract=contract, group=group)
    if check:
        problems = check_time(
            supervisor=supervisor, attendees=attendees, setting=setting, starts_at=starts_at, minutes=minutes
        )
        if problems:
            raise ValidationError({"starts_at": [p[0].upper() + p[1:] + "." for p in problems]})
    in_the_past = starts_at <= timezone.now()
    session = Session.objects.create(
        organisation=setting.organisation,
        setting=setting,
        status=SessionStatus.HELD if in_the_past and past_as_held else SessionStatus.SCHEDULED,
        kind=SessionKind.ONE_TO_ONE if contract else SessionKind.GROUP,
        contract=contract,
        group=group,
        supervisor=supervisor,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        venue=venue or (contract.venue if contract else ""),
        rebooked_from=rebooked_from,
        created_by=actor,
    )
    session.attendees.set(attendees)
    details = {"starts_at": starts_at.isoformat(), "minutes": minutes}
    if in_the_past and past_as_held:
        details["recorded_as_held"] = True
    if rebooked_from is not None:
        details["rebooked_from"] = str(rebooked_from.code)
        details["rebooked_after_hours"] = (
            round((timezone.now() - rebooked_from.cancelled_at).total_seconds() / 3600, 1)
            if rebooked_from.cancelled_at
            else None
        )
    audit_event(
        action="session.booked", actor=actor.user if actor else None, obj=session, request=request, details=details
    )
    if contract is not None:
        # "Supervision overdue: book it" is answered by the booking.
        notifications_done(object_type="contract", object_code=contract.code, kinds=OVERDUE_KINDS)
    if send and not in_the_past:
        _queue_invites(session.id, "REQUEST")
    return session


@transaction.atomic
def session_reschedule(
    *, actor: StaffMember, session: Session, starts_at: datetime, minutes: int | None = None, venue=None, request=None
) -> None:
    if session.status != SessionStatus.SCHEDULED:
        raise ValidationError("Only a scheduled session can be moved.")
    minutes = minutes or session.duration_minutes
    problems = check_time(
        supervisor=session.supervisor,
        attendees=list(session.attendees.all()),
        setting=session.setting,
        starts_at=starts_at,
        minutes=minutes,
        ignore_session_id=session.id,
    )
    if problems:
        raise ValidationError({"starts_at": [p[0].upper() + p[1:] + "." for p in problems]})
    before = session.starts_at
    session.starts_at = starts_at
    session.ends_at = starts_at + timedelta(minutes=minutes)
    if venue is not None:
        session.venue = venue
    session.sequence += 1
    session.save()
    audit_event(
        action="session.rescheduled",
        actor=actor.user,
        obj=session,
        request=request,
        details={"from": before.isoformat(), "to": starts_at.isoformat(), "sequence": session.sequence},
    )
    _queue_invites(session.id, "REQUEST")


@transaction.atomic
def session_cancel(*, actor: StaffMember, session: Session, reason: str, request=None) -> None:
    if session.status != SessionStatus.SCHEDULED:
        raise ValidationError("Only a scheduled session can be cancelled.")
    if not reason.strip():
        raise ValidationError({"reason": "Say why the session is cancelled."})
    session.status = SessionStatus.CANCELLED
    session.cancelled_at = timezone.now()
    session.cancelled_by = actor
    session.cancel_reason = reason.strip()
    session.sequence += 1
    session.save()
    audit_event(action="session.cancelled", actor=actor.user, obj=session, request=request, details={"reason": reason})
    _queue_invites(session.id, "CANCEL")


@transaction.atomic
def session_mark(*, actor: StaffMember, session: Session, status: str, request=None) -> None:
    if status not in (SessionStatus.HELD, SessionStatus.MISSED):
        raise ValueError(status)
    if session.status != SessionStatus.SCHEDULED:
        raise ValidationError("Only a scheduled session can be marked held or missed.")
    if session.starts_at > timezone.now():
        raise ValidationError("A session can be marked held or missed once it has started.")
    session.status = status
    session.save(update_fields=["status", "updated_at"])
    audit_event(action=f"session.{status}", actor=actor.user, obj=session, request=request)


def rebook_offers(session: Session, count: int = 3) -> list[datetime]:
    """The nearest free times after the original time (or now, if later) that meet every constraint."""
    supervisor, attendees = session.supervisor, list(session.attendees.all())
    after = max(session.starts_at, timezone.now())
    first = after.date()
    availability = Availability(session.organisation, [supervisor, *attendees], first, first + timedelta(days=42))
    return availability.free_slots(
        supervisor=supervisor,
        attendees=attendees,
        setting=session.setting,
        minutes=session.duration_minutes,
        after=after,
        count=count,
        ignore_session_id=session.id,
    )


# --- Agendas, notes, groups, feeds ----------------------------------------------------------------


@transaction.atomic
def agenda_add(*, actor: StaffMember, session: Session, text: str, request=None) -> AgendaItem:
    if session.status != SessionStatus.SCHEDULED:
        raise ValidationError({"text": "The agenda closes once the session has happened or been cancelled."})
    item = AgendaItem.objects.create(session=session, added_by=actor, text=text.strip())
    audit_event(action="session.agenda_added", actor=actor.user, obj=session, request=request)
    notifications_done(
        object_type="session", object_code=session.code, kinds=[NotificationKind.AGENDA_PROMPT], recipient=actor
    )
    return item


@transaction.atomic
def agenda_remove(*, actor: StaffMember, item: AgendaItem, request=None) -> None:
    session = item.session
    if session.status != SessionStatus.SCHEDULED:
        raise ValidationError("The agenda closes once the session has happened or been cancelled.")
    item.delete()
    audit_event(action="session.agenda_removed", actor=actor.user, obj=session, request=request)


@transaction.atomic
def note_add(
    *, actor: StaffMember, supervisee: StaffMember, occurred_on: date, summary: str, significant: bool, request=None
) -> InformalNote:
    note = InformalNote.objects.create(
        organisation=supervisee.organisation,
        supervisee=supervisee,
        recorded_by=actor,
        occurred_on=occurred_on,
        summary=summary.strip(),
        significant=significant,
    )
    audit_event(
        action="note.recorded", actor=actor.user, obj=note, request=request, details={"significant": significant}
    )
    return note


@transaction.atomic
def group_create(
    *, actor: StaffMember, name: str, setting, supervisor: StaffMember, members: list[StaffMember],
    confidentiality_boundaries: str, request=None,
) -> SupervisionGroup:  # fmt: skip
    if supervisor in members:
        raise ValidationError({"members": "The supervisor leads the group and is not one of its members."})
    if len(members) < 2:
        raise ValidationError({"members": "A group has at least two members."})
    group = SupervisionGroup.objects.create(
        organisation=setting.organisation,
        setting=setting,
        name=name,
        supervisor=supervisor,
        confidentiality_boundaries=confidentiality_boundaries,
    )
    group.members.set(members)
    audit_event(action="group.created", actor=actor.user, obj=group, request=request, details={"members": len(members)})
    return group


def feed_for(staff: StaffMember) -> CalendarFeed | None:
    return CalendarFeed.objects.filter(staff=staff).first()


@transaction.atomic
def feed_renew(*, staff: StaffMember, request=None) -> CalendarFeed:
    """A new private feed address; the old one stops working at once."""
    CalendarFeed.objects.filter(staff=staff).delete()
    feed = CalendarFeed.objects.create(staff=staff)
    audit_event(action="calendar.feed_renewed", actor=staff.user, obj=staff, request=request)
    return feed


@transaction.atomic
def feed_revoke(*, staff: StaffMember, request=None) -> None:
    CalendarFeed.objects.filter(staff=staff).delete()
    audit_event(action="calendar.feed_revoked", actor=staff.user, obj=staff, request=request)


@transaction.atomic
def contract_template_update(*, actor: StaffMember, template: ContractTemplate, values: dict, request=None) -> None:
    changed = [k for k, v in values.items() if getattr(template, k) != v]
    if not changed:
        return
    for key, value in values.items():
        setattr(template, key, value)
    template.save()
    audit_event(
        action="contract.template_changed",
        actor=actor.user,
        organisation=template.organisation,
        request=request,
        details={"fields": changed},
    )


def free_times(*, supervisor, attendees, setting, minutes: int, count: int = 3) -> list[datetime]:
    """Suggestions for a new booking: the next free times from tomorrow that meet every constraint."""
    start = timezone.localtime(timezone.now()).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    availability = Availability(
        setting.organisation, [supervisor, *attendees], start.date(), start.date() + timedelta(days=42)
    )
    return availability.free_slots(
        supervisor=supervisor, attendees=attendees, setting=setting, minutes=minutes, after=start, count=count
    )


# --- Calendar administration ---------------------------------------------------------------------
# What an organisation admin changes by hand: the default years, half-term dates, closure days, and
# the CSV import (read and checked in forms_calendar.py, written here).

# Longer than any half term a school plans: a mistyped year or month lands outside it.
MAX_HALF_TERM = timedelta(weeks=11)


def academic_start_year(day: date) -> int:
    """The calendar year in which the academic year holding `day` starts (from August, as ensure_calendar)."""
    return day.year if day.month >= 8 else day.year - 1


def academic_year_window(start_year: int) -> tuple[date, date]:
    """Where the half terms of an academic year may fall: 1 August to 31 August of the next year."""
    return date(start_year, 8, 1), date(start_year + 1, 8, 31)


def half_term_date_problems(*, start_year: int, starts: date, ends: date) -> dict[str, list[str]]:
    """The rules one half term keeps on its own: weekdays, in order, inside its academic year, not too long."""
    problems: dict[str, list[str]] = {}

    def add(field, message):
        problems.setdefault(field, []).append(message)

    for field, day in (("starts", starts), ("ends", ends)):
        if day.weekday() > 4:
            add(field, f"{date_format(day)} is a {day:%A}: a half term starts and ends on a weekday.")
    if ends <= starts:
        add("ends", "A half term ends after the day it starts.")
    elif ends - starts > MAX_HALF_TERM:
        add("ends", "A half term lasts at most eleven weeks: check the dates.")
    first, last = academic_year_window(start_year)
    for field, day in (("starts", starts), ("ends", ends)):
        if not first <= day <= last:
            add(
                field,
                f"{date_format(day)} is outside the academic year {academic_year_name(start_year)} "
                f"({date_format(first)} to {date_format(last)}).",
            )
    return problems


def half_term_sequence(organisation: Organisation) -> list[HalfTerm]:
    """The organisation's half terms in the order of the school year (one query)."""
    halves = HalfTerm.objects.filter(organisation=organisation).select_related("academic_year")
    return sorted(halves, key=lambda h: (h.academic_year.starts, TERM_ORDER[h.term], h.half))


def half_term_neighbours(half_term: HalfTerm) -> tuple[HalfTerm | None, HalfTerm | None]:
    """The half terms just before and just after this one, across academic years."""
    sequence = half_term_sequence(half_term.organisation)
    index = next(i for i, h in enumerate(sequence) if h.pk == half_term.pk)
    previous = sequence[index - 1] if index > 0 else None
    following = sequence[index + 1] if index + 1 < len(sequence) else None
    return previous, following


def half_term_problems(*, half_term: HalfTerm, starts: date, ends: date) -> dict[str, list[str]]:
    problems = half_term_date_problems(
        start_year=academic_start_year(half_term.academic_year.starts), starts=starts, ends=ends
    )
    previous, following = half_term_neighbours(half_term)
    if previous is not None and starts <= previous.ends:
        problems.setdefault("starts", []).append(
            f"{previous} ends on {date_format(previous.ends)}: start after it, so the half terms do not overlap."
        )
    if following is not None and ends >= following.starts:
        problems.setdefault("ends", []).append(
            f"{following} starts on {date_format(following.starts)}: end before it, so the half terms do not overlap."
        )
    return problems


def _add_bank_holidays(organisation: Organisation, starts: date, ends: date, already: tuple | None = None) -> int:
    """England's bank holidays from `starts` to `ends` as closure days, skipping the range `already` covered."""
    closed = set(
        ClosureDay.objects.filter(
            organisation=organisation, setting__isnull=True, date__range=(starts, ends)
        ).values_list("date", flat=True)
    )
    added = 0
    for day, holiday in sorted(bank_holidays_england(range(starts.year, ends.year + 1)).items()):
        if not starts <= day <= ends or day in closed or (already and already[0] <= day <= already[1]):
            continue
        ClosureDay.objects.create(organisation=organisation, date=day, kind=ClosureDay.Kind.BANK_HOLIDAY, name=holiday)
        added += 1
    return added


def _fit_year_to_half_terms(year: AcademicYear) -> None:
    """An academic year runs from its first half term's start to its last one's end."""
    bounds = [(h.starts, h.ends) for h in year.half_terms.all()]
    starts, ends = min(b[0] for b in bounds), max(b[1] for b in bounds)
    if (year.starts, year.ends) != (starts, ends):
        year.starts, year.ends = starts, ends
        year.save(update_fields=["starts", "ends"])


@transaction.atomic
def calendar_add_default_years(*, actor: StaffMember, organisation: Organisation, today: date | None = None) -> list:
    """ensure_calendar on an admin's behalf: this academic year and the next, where missing, audited as theirs."""
    this_year = academic_start_year(today or timezone.localdate())
    added = [
        calendar_generate_default(organisation=organisation, start_year=start_year, actor=actor.user)
        for start_year in (this_year, this_year + 1)
    ]
    return [year for year in added if year is not None]


@transaction.atomic
def half_term_update(*, actor: StaffMember, half_term: HalfTerm, starts: date, ends: date, request=None) -> bool:
    """Move a half term. Raises ValidationError (by field) when it would break the calendar."""
    problems = half_term_problems(half_term=half_term, starts=starts, ends=ends)
    if problems:
        raise ValidationError(problems)
    before = (half_term.starts, half_term.ends)
    if before == (starts, ends):
        return False
    half_term.starts, half_term.ends = starts, ends
    half_term.save(update_fields=["starts", "ends"])
    year = half_term.academic_year
    year_before = (year.starts, year.ends)
    _fit_year_to_half_terms(year)
    _add_bank_holidays(half_term.organisation, year.starts, year.ends, already=year_before)
    audit_event(
        action="calendar.half_term_changed",
        actor=actor.user,
        obj=half_term,
        request=request,
        details={
            "half_term": str(half_term),
            "from": [before[0].isoformat(), before[1].isoformat()],
            "to": [starts.isoformat(), ends.isoformat()],
        },
    )
    return True


@transaction.atomic
def closure_add(
    *, actor: StaffMember, organisation: Organisation, day: date, kind: str, name: str = "", setting=None, request=None
) -> ClosureDay:
    """Close every setting (setting None) or one setting for a day: an INSET day or another closure."""
    if day.weekday() > 4:
        raise ValidationError({"date": f"{date_format(day)} is a {day:%A}: settings are closed at weekends anyway."})
    if setting is not None and setting.organisation_id != organisation.id:
        raise ValueError("The setting is in another organisation")
    same_day = ClosureDay.objects.filter(organisation=organisation, date=day)
    everywhere = same_day.filter(setting__isnull=True).first()
    if everywhere is not None:
        raise ValidationError({"date": f"Every setting is already closed on {date_format(day)} ({everywhere.name})."})
    if setting is not None and same_day.filter(setting=setting).exists():
        raise ValidationError({"date": f"{setting.name} is already closed on {date_format(day)}."})
    closure = ClosureDay.objects.create(
        organisation=organisation, setting=setting, date=day, kind=kind, name=name.strip()
    )
    audit_event(
        action="calendar.closure_added",
        actor=actor.user,
        obj=closure,
        request=request,
        details={"date": day.isoformat(), "kind": kind, "setting": setting.name if setting else None},
    )
    return closure


@transaction.atomic
def closure_delete(*, actor: StaffMember, closure: ClosureDay, request=None) -> None:
    audit_event(
        action="calendar.closure_deleted",
        actor=actor.user,
        obj=closure,
        request=request,
        details={
            "date": closure.date.isoformat(),
            "kind": closure.kind,
            "setting": closure.setting.name if closure.setting_id else None,
        },
    )
    closure.delete()


@dataclass
class ImportedHalfTerm:
    """One checked half-term row of a calendar file."""

    year_name: str
    term: str
    half: int
    starts: date
    ends: date


@dataclass
class ImportedClosure:
    """One INSET day of a calendar file; setting None closes every setting."""

    day: date
    setting: Setting | None
    name: str


@transaction.atomic
def calendar_import(
    *,
    actor: StaffMember,
    organisation: Organisation,
    half_terms: list[ImportedHalfTerm],
    closures: list[ImportedClosure],
    request=None,
    pending: PendingImport | None = None,
) -> dict:
    """Write a checked calendar file: years and half terms created or moved, INSET days added.

    Whatever is already as the file says is left alone, so importing the same file twice changes nothing.
    `pending`: the uploaded file kept for this confirmation, removed with the import.
    """
    if pending is not None:
        pending_import_discard(pending=pending)
    years = {y.name: y for y in AcademicYear.objects.select_for_update().filter(organisation=organisation)}
    existing = {
        (h.academic_year.name, h.term, h.half): h
        for h in HalfTerm.objects.filter(organisation=organisation).select_related("academic_year")
    }
    summary = {"years_added": 0, "half_terms_added": 0, "half_terms_changed": 0, "closures_added": 0}
    touched: dict[str, tuple[AcademicYear, tuple | None]] = {}
    for row in half_terms:
        if row.year_name not in touched:
            year = years.get(row.year_name)
            if year is None:
                rows = [r for r in half_terms if r.year_name == row.year_name]
                year = AcademicYear.objects.create(
                    organisation=organisation,
                    name=row.year_name,
                    starts=min(r.starts for r in rows),
                    ends=max(r.ends for r in rows),
                )
                summary["years_added"] += 1
                touched[row.year_name] = (year, None)
            else:
                touched[row.year_name] = (year, (year.starts, year.ends))
        year = touched[row.year_name][0]
        current = existing.get((row.year_name, row.term, row.half))
        if current is None:
            HalfTerm.objects.create(
                organisation=organisation,
                academic_year=year,
                term=row.term,
                half=row.half,
                starts=row.starts,
                ends=row.ends,
            )
            summary["half_terms_added"] += 1
        elif (current.starts, current.ends) != (row.starts, row.ends):
            current.starts, current.ends = row.starts, row.ends
            current.save(update_fields=["starts", "ends"])
            summary["half_terms_changed"] += 1
    for year, before in touched.values():
        _fit_year_to_half_terms(year)
        _add_bank_holidays(organisation, year.starts, year.ends, already=before)
    closed = {
        (c.date, c.setting_id)
        for c in ClosureDay.objects.filter(organisation=organisation, date__in=[c.day for c in closures])
    }
    for closure in closures:
        setting_id = closure.setting.id if closure.setting else None
        if (closure.day, None) in closed or (closure.day, setting_id) in closed:
            continue
        ClosureDay.objects.create(
            organisation=organisation,
            setting=closure.setting,
            date=closure.day,
            kind=ClosureDay.Kind.INSET,
            name=closure.name or "INSET day",
        )
        closed.add((closure.day, setting_id))
        summary["closures_added"] += 1
    audit_event(
        action="calendar.imported", actor=actor.user, organisation=organisation, request=request, details=summary
    )
    return summary
