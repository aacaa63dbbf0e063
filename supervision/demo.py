"""Demo data for agreements, the calendar and sessions (called by `manage.py seed_demo`).

Five half terms of history and the current one (the dashboard's coverage chart shows six): sessions
held, a few missed, one supervisee with no session held last half term (the dashboard's overdue list),
one cancelled and rebooked, upcoming sessions with agenda items, informal notes, a group, an agreement awaiting
signatures, one with a raised frequency and one due for its annual review. The next half term is
left unplanned so the demo supervisor can plan it.
"""

from datetime import timedelta

from django.utils import timezone

from accounts.models import Frequency, Organisation, StaffMember

from . import services
from .models import Contract, HalfTerm, SessionStatus, SetupCheck
from .slots import LONDON, Availability

UPCOMING = {"staff@riverside.example", "supervisor@riverside.example", "dsl@riverside.example"}
UNSIGNED = {"ben.carter@riverside.example"}
REVIEW_DUE = {"amy.hughes@riverside.example"}
# Their session of the last half term was missed and not rebooked: overdue on the dashboard.
MISSED_LAST = {"amy.hughes@riverside.example"}
# How many half terms the demo's history covers, the current one included.
HISTORY_HALF_TERMS = 6
RAISED = {"fatima.khan@riverside.example": "Complex child-protection casework this term"}


def _sign_for_demo(contract: Contract, on) -> None:
    """The demo's history: both signed the agreement on the morning it started."""
    signed_at = timezone.make_aware(timezone.datetime.combine(on, timezone.datetime.min.time()).replace(hour=9))
    Contract.objects.filter(pk=contract.pk).update(
        supervisee_signed_at=signed_at,
        supervisor_signed_at=signed_at + timedelta(minutes=5),
        signed_hash=services.contract_content_hash(contract),
    )


def seed_demo(organisation: Organisation, today) -> None:
    _seed_history(organisation, today)
    seed_notifications(organisation, today)
    # The demo trust is already set up: its admin checked the dates, the wording and the forms, so the
    # setup checklist (supervision/setup.py) does not stand in front of the demo.
    admin = StaffMember.objects.filter(organisation=organisation, user__email="admin@riverside.example").first()
    SetupCheck.objects.bulk_create(
        [SetupCheck(organisation=organisation, step=step, checked_by=admin) for step in SetupCheck.Step.values],
        ignore_conflicts=True,
    )


def _seed_history(organisation: Organisation, today) -> None:
    services.ensure_calendar(organisation, today)
    # The history reaches back into the previous academic year.
    services.calendar_generate_default(
        organisation=organisation, start_year=today.year - 1 if today.month >= 8 else today.year - 2
    )
    half_terms = list(
        HalfTerm.objects.filter(organisation=organisation, starts__lte=today).order_by("-starts")[:HISTORY_HALF_TERMS]
    )
    half_terms.reverse()  # five past half terms and the current one
    earliest = half_terms[0].starts
    people = list(
        StaffMember.objects.filter(organisation=organisation, supervisor__isnull=False)
        .select_related("user", "supervisor__user")
        .order_by("user__full_name")
    )
    now = timezone.now()
    # Agreements are reviewed at the start of each academic year: the demo's older agreements were renewed
    # then, so their next review is a year away (all but the one due for review).
    renew_on = HalfTerm.objects.filter(academic_year=half_terms[-1].academic_year).order_by("starts").first().starts
    chains = []  # each person's agreements, oldest first
    for person in people:
        email = person.user.email
        start = max(person.start_date, earliest - timedelta(days=14))
        if person.leaving_date:
            start = min(start, person.leaving_date - timedelta(days=120))
        if email in REVIEW_DUE:
            start = today - timedelta(days=350)
        contract = services.contract_create(
            actor=person.supervisor,
            supervisee=person,
            supervisor=person.supervisor,
            start_date=start,
            venue="Meeting room" if person.settings.first().kind != "nursery" else "Staff room",
        )
        chain = [contract]
        if email not in UNSIGNED:
            _sign_for_demo(contract, start)
            renew = (
                email not in REVIEW_DUE
                and start <= renew_on - timedelta(days=90)
                and renew_on <= today
                and not (person.leaving_date and person.leaving_date < renew_on)
            )
            if renew:
                successor = services.contract_renew(actor=person.supervisor, contract=contract, on=renew_on)
                _sign_for_demo(successor, renew_on)
                chain.append(successor)
        if person.is_leaver(today):
            services.contract_end(
                actor=person.supervisor, contract=chain[-1], end_date=person.leaving_date, reason="Left"
            )
        if email in RAISED:
            services.override_add(
                actor=person.supervisor,
                contract=chain[-1],
                frequency=Frequency.FORTNIGHTLY,
                reason=RAISED[email],
                starts=half_terms[-1].starts,
                ends=half_terms[-1].ends + timedelta(days=60),
            )
        for c in chain:
            c.refresh_from_db()
        chains.append(chain)

    everyone = list({p.id: p for chain in chains for c in chain for p in (c.supervisee, c.supervisor)}.values())
    availability = Availability(organisation, everyone, earliest, half_terms[-1].ends)
    booked = {}
    for index, half_term in enumerate(half_terms):
        current = index == len(half_terms) - 1
        for n, chain in enumerate(chains):
            # The agreement in force in this half term (renewals start on a half term's first day).
            active = [
                c
                for c in chain
                if c.start_date <= half_term.ends and (c.end_date is None or c.end_date >= half_term.starts)
            ]
            if not active or not active[-1].is_signed:
                continue
            contract = active[-1]
            setting = contract.supervisee.settings.order_by("name").first()
            # Spread the caseload: each person's session falls in a different week of the half term.
            first_day = half_term.starts + timedelta(days=7 * (n % 6) + n % 3)
            if current and contract.supervisee.user.email in UPCOMING:
                first_day = today + timedelta(days=2)
            after = timezone.datetime.combine(first_day, timezone.datetime.min.time(), tzinfo=LONDON)
            slots = availability.free_slots(
                supervisor=contract.supervisor,
                attendees=[contract.supervisee],
                setting=setting,
                minutes=contract.session_minutes,
                after=after,
                count=1,
            )
            if not slots or slots[0].date() > half_term.ends:
                continue
            starts_at = slots[0]
            session = services.session_book(
                actor=contract.supervisor,
                contract=contract,
                starts_at=starts_at,
                minutes=contract.session_minutes,
                check=False,
                send=False,
            )
            availability.book([contract.supervisor_id, contract.supervisee_id], starts_at, session.ends_at)
            if starts_at < now:
                # A few missed at random, never the demo sign-ins' own sessions (their story is below).
                missed = ((n + index) % 17 == 0 and contract.supervisee.user.email not in UPCOMING) or (
                    index == len(half_terms) - 2 and contract.supervisee.user.email in MISSED_LAST
                )
                status = SessionStatus.MISSED if missed else SessionStatus.HELD
                type(session).objects.filter(pk=session.pk).update(status=status)
            booked.setdefault(contract.supervisee.user.email, []).append(session)
            if current and contract.supervisee.user.email == "staff@riverside.example" and starts_at > now:
                services.agenda_add(
                    actor=contract.supervisee,
                    session=session,
                    text="Supporting a pupil after a bereavement in the family",
                )
                services.agenda_add(actor=contract.supervisee, session=session, text="Phonics training: when can I go?")

    # A cancelled session of the last half term, rebooked three days later.
    tom_sessions = booked.get("chloe.evans@riverside.example", [])
    past = [s for s in tom_sessions if s.starts_at < now and s.starts_at.date() >= half_terms[-2].starts]
    if past:
        original = past[0]
        type(original).objects.filter(pk=original.pk).update(
            status=SessionStatus.CANCELLED,
            cancelled_at=original.starts_at - timedelta(days=1),
            cancelled_by=original.supervisor,
            cancel_reason="Covering a class for an absent colleague",
            sequence=1,
        )
        original.refresh_from_db()
        setting = original.setting
        slot = availability.free_slots(
            supervisor=original.supervisor,
            attendees=[original.contract.supervisee],
            setting=setting,
            minutes=original.duration_minutes,
            after=original.starts_at + timedelta(hours=2),
            count=1,
        )
        if slot:
            again = services.session_book(
                actor=original.supervisor,
                contract=original.contract,
                starts_at=slot[0],
                minutes=original.duration_minutes,
                rebooked_from=original,
                check=False,
                send=False,
            )
            availability.book([original.supervisor_id, original.contract.supervisee_id], slot[0], again.ends_at)
            if slot[0] < now:
                type(again).objects.filter(pk=again.pk).update(status=SessionStatus.HELD)

    by_email = {p.user.email: p for p in people}
    tom, sarah = by_email.get("staff@riverside.example"), by_email.get("supervisor@riverside.example")
    if tom and sarah:
        services.note_add(
            actor=sarah,
            supervisee=tom,
            occurred_on=today - timedelta(days=4),
            summary="Tom asked for advice after a parent raised their voice at pick-up. Talked through the "
            "de-escalation steps; he will log it. Revisit how he is feeling at supervision.",
            significant=True,
        )
        services.note_add(
            actor=sarah,
            supervisee=tom,
            occurred_on=today - timedelta(days=11),
            summary="Quick check-in about the Year 2 trip risk assessment: all in hand.",
            significant=False,
        )
    dsl = StaffMember.objects.filter(organisation=organisation, user__email="dsl@riverside.example").first()
    members = [
        by_email[e]
        for e in ("fatima.khan@riverside.example", "hannah.scott@riverside.example", "emma.wilson@riverside.example")
        if e in by_email
    ]
    if dsl and len(members) >= 2:
        services.group_create(
            actor=dsl,
            name="Team around the child: Year 4 family",
            setting=members[0].settings.first(),
            supervisor=dsl,
            members=members,
            confidentiality_boundaries="What is said about the family stays in the group and on the child's file. "
            "Concerns about a colleague go to the head. Personal matters shared here are not repeated.",
        )


def seed_notifications(organisation: Organisation, today) -> None:
    """Reminders in several states: read and unread, emailed, and kept in the product only."""
    from django.utils import timezone

    from .models import Notification, NotificationKind, NotificationPreference
    from .notify import notify

    people = {p.user.email: p for p in StaffMember.objects.filter(organisation=organisation).select_related("user")}
    tom, sarah, dsl = (
        people.get(e) for e in ("staff@riverside.example", "supervisor@riverside.example", "dsl@riverside.example")
    )
    if not (tom and sarah and dsl):
        return
    NotificationPreference.objects.update_or_create(
        staff=tom, kind=NotificationKind.ACTION_DUE, defaults={"email": False}
    )
    made = [
        notify(recipient=tom, kind=NotificationKind.AGENDA_PROMPT, object_type="demo", object_code="agenda",
               period=today.isoformat(), title="Prepare your agenda", body="Your next supervision is within a week: "
               "add what you would like to talk about.", url="/calendar/"),
        notify(recipient=tom, kind=NotificationKind.SIGNATURE_PENDING, object_type="demo", object_code="record",
               period="1", title="A record is waiting for your signature", body="Read the notes of your last "
               "session, then agree and sign or comment.", url="/records/"),
        notify(recipient=tom, kind=NotificationKind.ACTION_DUE, object_type="demo", object_code="action",
               period=today.isoformat(), title="An action is due tomorrow", body="See your actions.", url="/actions/"),
        notify(recipient=sarah, kind=NotificationKind.SESSION_OVERDUE, object_type="demo", object_code="overdue",
               period="autumn-1", title="Supervision overdue", body="Amy Hughes was not supervised last half term: "
               "book a session.", url="/calendar/"),
        notify(recipient=dsl, kind=NotificationKind.DECISION_ESCALATION, object_type="demo", object_code="decision",
               period="1", title="A safeguarding decision is not on the child's file", body="It was recorded four "
               "days ago and the key person has not confirmed it.", url="/records/safeguarding/"),
    ]  # fmt: skip
    read = [n.id for n in made[:1] + made[3:4] if n is not None]
    Notification.objects.filter(id__in=read).update(read_at=timezone.now())
