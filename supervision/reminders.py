"""Reminders and follow-ups (DESIGN section 7): what is due now, and the sweep that records it once.

Beat runs `sweep()` every 15 minutes (migration 0003_install_schedule). Each `find_*` function below
returns the reminders due at that moment as `Due` items; the sweep hands them all to `notify_many()`,
whose unique key (kind, object, recipient, period) makes a second sweep, or two at once, record
nothing twice. Nothing waits in the broker with an ETA: every sweep asks the database afresh, so a
session moved or a record signed since the last sweep is seen at the next one.

When. Dates are Europe/London dates.
- Non-urgent reminders go out from 07:00 on the organisation's school days only: a weekday that is
  not a closure day of the whole organisation (bank holidays, INSET days for every setting) and,
  when the organisation has an academic calendar, inside a half term. One that falls due on another
  day goes at 07:00 on the next school day.
- "Tomorrow" is the next school day: on the last school day before a weekend or a holiday, sessions
  and actions up to and including the next school day are reminded (otherwise Monday's never would be).
- Safeguarding (URGENT) goes at any hour on any day, counted in hours from the record's signature.
- An escalation follows its reminder. Besides its own date, it waits until the reminder has been in
  the ledger for the gap between their triggers (5 days for signatures, 6 for overdue sessions,
  48 hours for safeguarding), so after a holiday the head does not hear on the same morning as the
  person asked. Where nobody could be reminded (the person has left), it goes on its own date.
- Recipients are current staff (no leaving date before today) whose sign-in is active.

The rules. Each is one finder; the period makes one send per occurrence.
1. Agenda prompt: a scheduled session starting in the future and on or before today + 7 days ->
   each attendee. Period: the session's start date, so a moved session prompts again.
2. Session reminder: a scheduled session on a day after today and on or before the next school day
   -> the supervisor and each attendee. Period: the start date.
3. Signature pending: a record awaiting signatures for 2 days or more (by date) -> each signer it
   waits for. Awaiting the supervisee: every attendee with no standing signature, waiting since
   `submitted_at`; awaiting the supervisor: the supervisor, waiting since the last standing
   supervisee signature. Period: the record's revision (a re-submission starts again).
4. Signature escalation: the same, waiting 7 days or more -> heads and DSLs of the session's setting
   (role on that setting or organisation-wide), never the people in the session. Period: revision.
5. Overdue session: for each organisation, the most recent half term that has ended (before today).
   A signed 1:1 agreement, current today and started by the half term's last day, whose supervisee
   is still here and was owed supervision in it (`rules.why_not_due`, `rules.supervisable_window`,
   from the agreement's start, or its predecessor's after a change of supervisor), with fewer HELD
   sessions (this agreement or its predecessor) in the half term than `rules.sessions_needed` asks
   for its school weeks at the effective frequency; and none held since it ended -> the supervisor.
   Termly agreements are judged on the whole term, at the end of its second half (DESIGN section 5:
   none held within the frequency window). Period: the half term's code.
6. Overdue escalation: the same, 7 days or more after the half term ended -> heads and DSLs of the
   supervisee's settings (or organisation-wide), never the supervisee or the supervisor.
7. Action due: an open action due after today and on or before the next school day -> its owner.
   Period: the due date (a new date, a new reminder).
8. Action overdue: an open action due before today, by no more than `LOOKBACK` -> its owner. Period:
   the due date. The look-back bounds the sweep (open actions pile up over seven years of records)
   and stops a flood of stale email on first installation; it is longer than the summer holidays.
9. Safeguarding decision unconfirmed (URGENT): a decision on a signed record, not confirmed 48 hours
   after the record was signed (`locked_at`) -> its key person. Decisions on unsigned records do not
   count yet. Period: "1" (once).
10. Safeguarding escalation (URGENT): the same, 4 days (96 hours) after signing -> DSLs and heads of
   the session's setting, except the key person. Period: "1".
11. Agreement review due: a current, signed agreement whose review date is today or within 30 days
   -> the supervisee and the supervisor. Period: the review date.
12. Agreement review overdue: its review date is before today -> both. Period: the review date.

Cost: every finder runs a fixed number of queries whatever the number of rows (select_related,
prefetching, one look-up of the ledger by key), reads only the columns it uses, and work two rules share
is read once a sweep (`SchoolDays`); the sweep adds one look-up per 10,000 keys and one INSERT per 500 new
notifications (`notify_many`). A `Due`'s words (title, body, link) are written only for a reminder not yet
in the ledger: at 12,000 staff a sweep finds about 12,600 due, and every sweep after the first writes none.
"""

import gc
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache, partial
from typing import NamedTuple

from django.db.models import Exists, OuterRef, Prefetch, Q, Subquery
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone

from accounts.models import Frequency, Organisation, Role, RoleAssignment, Setting, StaffMember
from records.follow_up import safeguarding_at
from records.models import Action, ActionStatus, Record, RecordStatus, SafeguardingDecision, Signature

from .models import (
    ClosureDay,
    Contract,
    FrequencyOverride,
    HalfTerm,
    Notification,
    NotificationKind,
    Session,
    SessionKind,
    SessionStatus,
    SupervisionGroup,
)
from .notify import BATCH, notify_many
from .rules import effective_frequency, sessions_needed, supervisable_window, why_not_due
from .school_calendar import school_days, school_weeks
from .slots import LONDON

logger = logging.getLogger(__name__)

Kind = NotificationKind

# Non-urgent reminders start at this local time on school days.
SENDING_STARTS = time(7, 0)
# How far ahead the next school day is looked for (the longest holiday is about six weeks).
HORIZON = timedelta(days=60)
# Frequencies that never ask for more than one session in a half term (a termly one asks for one over
# the whole term, which holds the half term): one held in the half term is enough, unless raised.
AT_MOST_ONE = (Frequency.HALF_TERMLY, Frequency.TERMLY)
# Actions overdue by more than this are no longer chased (see rule 8).
LOOKBACK = timedelta(days=70)

AGENDA_DAYS = 7
SIGNATURE_PENDING_DAYS = 2
SIGNATURE_ESCALATION_DAYS = 7
OVERDUE_ESCALATION_DAYS = 7
DECISION_REMINDER_AFTER = timedelta(hours=48)
DECISION_ESCALATION_AFTER = timedelta(hours=96)
REVIEW_DUE_DAYS = 30


class Words(NamedTuple):
    title: str
    body: str
    url: str


class Due(Mapping):
    """One reminder due now: `notify()`'s keyword arguments, as a mapping.

    Its words (title, body and link) are written when first read, by the `words` function it is given:
    a steady sweep finds thousands of reminders due that the ledger holds already, and `notify_many()`
    reads the words of new ones only.
    """

    FIELDS = ("recipient", "kind", "object_type", "object_code", "period", "title", "body", "url")
    __slots__ = ("recipient", "kind", "object_type", "object_code", "period", "_words")

    def __init__(
        self,
        recipient: StaffMember,
        kind: str,
        object_type: str,
        object_code: str,
        period: str,
        words: Callable[[], Words],
    ):
        self.recipient, self.kind, self.object_type = recipient, kind, object_type
        self.object_code, self.period, self._words = object_code, period, words

    def words(self) -> Words:
        if not isinstance(self._words, Words):
            self._words = self._words()
        return self._words

    title = property(lambda self: self.words().title)
    body = property(lambda self: self.words().body)
    url = property(lambda self: self.words().url)

    def __getitem__(self, name: str):
        if name not in self.FIELDS:
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self):
        return iter(self.FIELDS)

    def __len__(self) -> int:
        return len(self.FIELDS)

    def __repr__(self) -> str:
        return f"Due({self.kind}, {self.object_type} {self.object_code}, {self.recipient.id}, {self.period})"

    def _asdict(self) -> dict:
        return dict(self)

    @property
    def key(self) -> str:
        return Notification.make_key(self.kind, self.object_type, self.object_code, self.recipient.id, self.period)


# --- Dates and people -------------------------------------------------------------------------------


def _local_day(moment: datetime) -> date:
    return moment.astimezone(LONDON).date()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=LONDON)


# Thousands of reminders a sweep name a few hundred days: each is written once (`strftime` is slow).
@lru_cache(maxsize=1024)
def _day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


@lru_cache(maxsize=1024)
def _short_day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def _clock(moment: datetime) -> str:
    return f"{moment.astimezone(LONDON):%H:%M}"


def _names(names: Iterable[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _sessions(n: int) -> str:
    return "1 session" if n == 1 else f"{n} sessions"


def _held(n: int) -> str:
    return "none was held" if n == 0 else f"only {n} {'was' if n == 1 else 'were'} held"


def _reachable(person: StaffMember, today: date) -> bool:
    """Current staff with an active sign-in (`user` selected with the person)."""
    return person.user.is_active and (person.leaving_date is None or person.leaving_date >= today)


# What the finders read of a person: whether they can be reached, and their name. Every other column is
# left in the database (a sweep of a large trust reads some 10,000 people).
PERSON_FIELDS = ("id", "organisation_id", "user_id", "leaving_date", "user__id", "user__full_name", "user__is_active")


def _people():
    return StaffMember.objects.select_related("user").only(*PERSON_FIELDS)


def _person_fields(prefix: str) -> list[str]:
    return [f"{prefix}__{name}" for name in PERSON_FIELDS]


# A link is reversed once for each view and then given each object's code: `reverse` costs tens of
# microseconds, and a sweep of a large trust writes some 13,000 links.
_CODE = uuid.UUID(int=0)
_links: dict[tuple, str] = {}


def _link(name: str, code=None) -> str:
    """`reverse(name)`, or `reverse(name, kwargs={"code": code})`, from one `reverse` per view."""
    cache_key = (name, code is None, get_script_prefix(), get_urlconf())
    if cache_key not in _links:
        _links[cache_key] = reverse(name) if code is None else reverse(name, kwargs={"code": _CODE})
    link = _links[cache_key]
    return link if code is None else link.replace(str(_CODE), str(code))


@dataclass
class SchoolDays:
    """Which organisations are open to non-urgent reminders now, and each one's next school day.

    Loaded once per sweep in two queries: the organisations (with whether they have a calendar) and
    the half terms and whole-organisation closure days of the next `HORIZON`.
    """

    today: date
    open: set[int] = field(default_factory=set)
    with_calendar: set[int] = field(default_factory=set)
    terms: dict[int, list[tuple[date, date]]] = field(default_factory=lambda: defaultdict(list))
    closed: dict[int, set[date]] = field(default_factory=lambda: defaultdict(set))
    # Work two finders share, done once a sweep: the agreements behind in the last half term (rules 5 and 6),
    # the records waiting for a signature (rules 3 and 4), the sessions coming up (rules 1 and 2) and the
    # safeguarding decisions not confirmed (rules 9 and 10).
    overdue: "list[_Overdue] | None" = None
    awaiting: "list[_Waiting] | None" = None
    scheduled: "list[Session] | None" = None
    unconfirmed: "list[SafeguardingDecision] | None" = None

    @classmethod
    def load(cls, now: datetime) -> "SchoolDays":
        local = now.astimezone(LONDON)
        today = local.date()
        days = cls(today=today)
        organisations = Organisation.objects.annotate(
            has_calendar=Exists(HalfTerm.objects.filter(organisation=OuterRef("pk")))
        ).values_list("id", "has_calendar")
        ids = []
        for organisation_id, has_calendar in organisations:
            ids.append(organisation_id)
            if has_calendar:
                days.with_calendar.add(organisation_id)
        last = today + HORIZON
        for organisation_id, starts, ends in HalfTerm.objects.filter(ends__gte=today, starts__lte=last).values_list(
            "organisation_id", "starts", "ends"
        ):
            days.terms[organisation_id].append((starts, ends))
        for organisation_id, day in ClosureDay.objects.filter(
            setting__isnull=True, date__range=(today, last)
        ).values_list("organisation_id", "date"):
            days.closed[organisation_id].add(day)
        if local.time() >= SENDING_STARTS:
            days.open = {o for o in ids if days.is_school_day(o, today)}
        return days

    def is_school_day(self, organisation_id: int, day: date) -> bool:
        if day.weekday() >= 5 or day in self.closed[organisation_id]:
            return False
        if organisation_id not in self.with_calendar:
            return True
        return any(starts <= day <= ends for starts, ends in self.terms[organisation_id])

    def next_school_day(self, organisation_id: int) -> date:
        """The first school day after today (tomorrow when the calendar runs out)."""
        for n in range(1, HORIZON.days + 1):
            day = self.today + timedelta(days=n)
            if self.is_school_day(organisation_id, day):
                return day
        return self.today + timedelta(days=1)

    def last_next_school_day(self) -> date:
        return max((self.next_school_day(o) for o in self.open), default=self.today + timedelta(days=1))


class _Leaders:
    """Heads and DSLs who can be told, by setting and organisation-wide: one query."""

    def __init__(self, organisation_ids: Iterable[int], today: date):
        self.in_setting: dict[int, list[StaffMember]] = defaultdict(list)
        self.everywhere: dict[int, list[StaffMember]] = defaultdict(list)
        assignments = RoleAssignment.objects.filter(
            role__in=[Role.HEAD, Role.DSL], staff__organisation_id__in=set(organisation_ids)
        ).select_related("staff__user")
        for assignment in assignments:
            if not _reachable(assignment.staff, today):
                continue
            if assignment.setting_id is None:
                self.everywhere[assignment.staff.organisation_id].append(assignment.staff)
            else:
                self.in_setting[assignment.setting_id].append(assignment.staff)

    def of(self, organisation_id: int, setting_ids: Iterable[int], exclude: Iterable[int] = ()) -> list[StaffMember]:
        people = {p.id: p for p in self.everywhere[organisation_id]}
        for setting_id in setting_ids:
            people.update((p.id, p) for p in self.in_setting[setting_id])
        excluded = set(exclude)
        return sorted((p for p in people.values() if p.id not in excluded), key=lambda p: p.full_name)


def _recorded(keys: Iterable[str]) -> dict[str, datetime]:
    """When each of these notifications entered the ledger (looked up by its unique key)."""
    keys = sorted(set(keys))
    found = {}
    for start in range(0, len(keys), BATCH):
        found.update(Notification.objects.filter(key__in=keys[start : start + BATCH]).values_list("key", "created_at"))
    return found


def _reminded_long_enough(reminder_keys: list[str], recorded: dict[str, datetime], ready) -> bool:
    """An escalation's gate: no one could be reminded, or the first reminder is old enough."""
    if not reminder_keys:
        return True
    times = [recorded[k] for k in reminder_keys if k in recorded]
    return bool(times) and ready(min(times))


# --- Sessions ---------------------------------------------------------------------------------------


def _scheduled_sessions(organisation_ids, starts_after: datetime, starts_before: datetime):
    return (
        Session.objects.filter(
            organisation_id__in=organisation_ids,
            status=SessionStatus.SCHEDULED,
            starts_at__gt=starts_after,
            starts_at__lt=starts_before,
        )
        .select_related("supervisor__user", "group")
        .only(
            "id", "code", "organisation_id", "kind", "group__id", "group__name", "supervisor_id", "starts_at",
            "venue", *_person_fields("supervisor"),
        )
        .prefetch_related(Prefetch("attendees", queryset=_people()))
        .order_by("starts_at", "id")
    )  # fmt: skip


def _sessions_between(
    days: SchoolDays, now: datetime, starts_after: datetime, starts_before: datetime
) -> list[Session]:
    """The scheduled sessions of the organisations at school that start in the window. Read once a sweep,
    over the windows of rules 1 and 2 together: `days` keeps them, and each rule takes those in its own."""
    if days.scheduled is None:
        last = max(
            _midnight(days.today + timedelta(days=AGENDA_DAYS + 1)),
            _midnight(days.last_next_school_day() + timedelta(days=1)),
        )
        days.scheduled = list(_scheduled_sessions(days.open, now, last))
    return [s for s in days.scheduled if starts_after < s.starts_at < starts_before]


def _session_label(session: Session, person: StaffMember) -> str:
    if session.kind == SessionKind.GROUP and session.group_id:
        return f"group supervision ({session.group.name}) with {session.supervisor.full_name}"
    if person.id == session.supervisor_id:
        return "supervision with " + _names(a.full_name for a in session.attendees.all())
    return f"supervision with {session.supervisor.full_name}"


def _when(session: Session) -> str:
    text = f"{_day(_local_day(session.starts_at))} at {_clock(session.starts_at)}"
    return f"{text} ({session.venue})" if session.venue else text


def _session_url(session: Session) -> str:
    return _link("supervision:session-detail", session.code)


def find_agenda_prompts(today: date, now: datetime, days: SchoolDays) -> list[Due]:
    """Rule 1: a session in the next 7 days -> each attendee, to prepare the agenda."""
    due = []
    last = _midnight(today + timedelta(days=AGENDA_DAYS + 1))
    for session in _sessions_between(days, now, now, last):
        day = _local_day(session.starts_at)
        for person in session.attendees.all():
            if not _reachable(person, today):
                continue
            words = partial(_agenda_words, session, person, day)
            due.append(Due(person, Kind.AGENDA_PROMPT, "session", str(session.code), day.isoformat(), words))
    return due


def _agenda_words(session: Session, person: StaffMember, day: date) -> Words:
    return Words(
        title=f"Add to the agenda: supervision on {_short_day(day)}",
        body=(
            f"Your {_session_label(session, person)} is on {_when(session)}. Add what you would like "
            "to talk about to the agenda beforehand, so the time goes on what matters to you."
        ),
        url=_session_url(session),
    )


def find_session_reminders(today: date, now: datetime, days: SchoolDays) -> list[Due]:
    """Rule 2: a session on the next school day -> the supervisor and each attendee."""
    due = []
    last = _midnight(days.last_next_school_day() + timedelta(days=1))
    for session in _sessions_between(days, now, _midnight(today + timedelta(days=1)), last):
        day = _local_day(session.starts_at)
        if day > days.next_school_day(session.organisation_id):
            continue
        for person in [session.supervisor, *session.attendees.all()]:
            if not _reachable(person, today):
                continue
            words = partial(_session_reminder_words, session, person, day)
            due.append(Due(person, Kind.SESSION_REMINDER, "session", str(session.code), day.isoformat(), words))
    return due


def _session_reminder_words(session: Session, person: StaffMember, day: date) -> Words:
    after = " Afterwards, mark it held and write up the record." if person.id == session.supervisor_id else ""
    return Words(
        title=f"Supervision on {_short_day(day)} at {_clock(session.starts_at)}",
        body=(
            f"A reminder: your {_session_label(session, person)} is on {_when(session)}. "
            f"The session page has the agenda.{after}"
        ),
        url=_session_url(session),
    )


# --- Signatures -------------------------------------------------------------------------------------


@dataclass
class _Waiting:
    record: Record
    since: date
    signers: list[StaffMember]  # everyone the record waits for, reachable or not
    attendees: list[StaffMember]  # the people in the session, in name order


def _records_awaiting_signatures(days: SchoolDays, days_waiting: int) -> list[_Waiting]:
    """Records that have waited `days_waiting` days or more for a signature. Read once a sweep: `days` keeps
    every waiting record, and each rule takes those that have waited long enough for it."""
    if days.awaiting is None:
        days.awaiting = _find_records_awaiting_signatures(days.open)
    return [w for w in days.awaiting if w.since + timedelta(days=days_waiting) <= days.today]


def _find_records_awaiting_signatures(organisation_ids) -> list[_Waiting]:
    waiting_records = Record.objects.filter(
        organisation_id__in=organisation_ids,
        status__in=[RecordStatus.AWAITING_SUPERVISEE, RecordStatus.AWAITING_SUPERVISOR],
    )
    records = list(
        waiting_records.select_related("session")
        .only(
            "id", "code", "organisation_id", "session_id", "supervisor_id", "status", "revision", "submitted_at",
            "session__id", "session__code", "session__setting_id", "session__group_id", "session__starts_at",
        )
        .order_by("id")
    )  # fmt: skip
    # A supervisor, setting or person waits on many records: each is loaded once (one query each kind),
    # not once a record, and the attendances and signatures are read as plain values.
    attendances = Session.attendees.through.objects.filter(session_id__in=waiting_records.values("session_id"))
    attending: dict[int, list[int]] = defaultdict(list)
    for session_id, person_id in attendances.values_list("session_id", "staffmember_id"):
        attending[session_id].append(person_id)
    # Two IN subqueries, each hashed once, not an OR across the attendees join (which needs a DISTINCT).
    people = {
        p.id: p
        for p in _people().filter(
            Q(pk__in=waiting_records.values("supervisor_id")) | Q(pk__in=attendances.values("staffmember_id"))
        )
    }
    rank = {person_id: n for n, person_id in enumerate(sorted(people, key=lambda i: people[i].user.full_name))}
    settings = {s.id: s for s in Setting.objects.filter(organisation_id__in=organisation_ids)}
    groups = {g.id: g for g in SupervisionGroup.objects.filter(pk__in=waiting_records.values("session__group_id"))}
    standing: dict[int, dict[int, datetime]] = defaultdict(dict)
    for record_id, signer_id, signed_at in Signature.objects.filter(
        record__in=waiting_records, addendum__isnull=True, voided_at__isnull=True
    ).values_list("record_id", "signer_id", "signed_at"):
        standing[record_id][signer_id] = signed_at
    waiting = []
    for record in records:
        session = record.session
        record.supervisor = people[record.supervisor_id]
        session.setting = settings[session.setting_id]
        session.group = groups.get(session.group_id)
        signed = standing[record.id]
        attendees = sorted((people[i] for i in attending[session.id]), key=lambda p: rank[p.id])
        if record.status == RecordStatus.AWAITING_SUPERVISEE:
            since = record.submitted_at
            signers = [a for a in attendees if a.id not in signed]
        else:
            times = [at for signer, at in signed.items() if signer != record.supervisor_id]
            since = max(times) if times else record.submitted_at
            signers = [record.supervisor]
        if since is None or not signers:
            continue
        waiting.append(_Waiting(record, _local_day(since), signers, attendees))
    return waiting


def _record_url(record: Record) -> str:
    return _link("records:record-detail", record.code)


def _pending_due(waiting: _Waiting, person: StaffMember) -> Due:
    record = waiting.record
    words = partial(_pending_words, waiting, person)
    return Due(person, Kind.SIGNATURE_PENDING, "record", str(record.code), str(record.revision), words)


def _pending_words(waiting: _Waiting, person: StaffMember) -> Words:
    record = waiting.record
    held_on = _local_day(record.session.starts_at)
    if person.id == record.supervisor_id:
        names = _names(a.full_name for a in waiting.attendees)
        title = f"Please sign the record of supervision with {names} on {_short_day(held_on)}"
        body = (
            f"{names} agreed and signed the record of the supervision on {_day(held_on)} by {_day(waiting.since)}. "
            "Your signature completes it and locks it for the staff file."
        )
    else:
        title = f"Please read and sign the record of your supervision on {_short_day(held_on)}"
        body = (
            f"{record.supervisor.full_name} wrote up your supervision of {_day(held_on)}, and it has waited for "
            f"your signature since {_day(waiting.since)}. Read the notes and sign them if you agree, or add a "
            "comment saying what you would change."
        )
    return Words(title, body, _record_url(record))


def find_signatures_pending(today: date, now: datetime, days: SchoolDays) -> list[Due]:
    """Rule 3: a record waiting 2 days for someone's signature -> that signer."""
    due = []
    for waiting in _records_awaiting_signatures(days, SIGNATURE_PENDING_DAYS):
        due.extend(_pending_due(waiting, p) for p in waiting.signers if _reachable(p, today))
    return due


def find_signature_escalations(today: date, now: datetime, days: SchoolDays) -> list[Due]:
    """Rule 4: a record waiting 7 days -> heads and DSLs of the session's setting."""
    waiting = _records_awaiting_signatures(days, SIGNATURE_ESCALATION_DAYS)
    if not waiting:
        return []
    # The keys of the reminders rule 3 sent (their words are not written).
    reminders = {w.record.id: [_pending_due(w, p).key for p in w.signers if _reachable(p, today)] for w in waiting}
    recorded = _recorded(k for keys in reminders.values() for k in keys)
    leaders = _Leaders({w.record.organisation_id for w in waiting}, today)
    gap = timedelta(days=SIGNATURE_ESCALATION_DAYS - SIGNATURE_PENDING_DAYS)
    due = []
    for w in waiting:
        if not _reminded_long_enough(reminders[w.record.id], recorded, lambda at: _local_day(at) + gap <= today):
            continue
        record, session = w.record, w.record.session
        people = [record.supervisor_id, *(a.id for a in w.attendees)]
        words = partial(_signature_escalation_words, w)
        for person in leaders.of(record.organisation_id, [session.setting_id], exclude=people):
            due.append(Due(person, Kind.SIGNATURE_ESCALATION, "record", str(record.code), str(record.revision), words))
    return due


def _signature_escalation_words(w: _Waiting) -> Words:
    record, session = w.record, w.record.session
    held_on = _local_day(session.starts_at)
    return Words(
        title=(
            f"Record unsigned for a week: {_names(a.full_name for a in w.attendees)} with {record.supervisor.full_name}"
        ),
        body=(
            f"The record of the supervision on {_day(held_on)} at {session.setting.name} has waited "
            f"since {_day(w.since)} for {_names(p.full_name for p in w.signers)} to sign. Please "
            f"follow it up with them. You are told as a head or DSL of {session.setting.name}; "
            "the notes stay private to the people in the session."
        ),
        url=_session_url(session),
    )


# --- Overdue sessions -------------------------------------------------------------------------------


@dataclass
class _Overdue:
    contract: Contract
    half_term: HalfTerm
    needed: int
    held: int


def _overdue_agreements(today: date, days: SchoolDays) -> list[_Overdue]:
    """Rule 5's agreements: behind in their organisation's last ended half term, and not made good.
    Found once a sweep (rules 5 and 6 both ask): `days` keeps them."""
    if days.overdue is None:
        days.overdue = _find_overdue_agreements(today, days)
    return days.overdue


def _find_overdue_agreements(today: date, days: SchoolDays) -> list[_Overdue]:
    if not days.open:
        return []
    latest = HalfTerm.objects.filter(organisation=OuterRef("organisation"), ends__lt=today).order_by("-ends")
    half_terms = {
        h.organisation_id: h
        for h in HalfTerm.objects.filter(
            organisation_id__in=days.open, ends=Subquery(latest.values("ends")[:1])
        ).select_related("academic_year")
    }
    if not half_terms:
        return []
    second_halves = [h for h in half_terms.values() if h.half == 2]
    first_halves = {
        (h.academic_year_id, h.term): h
        for h in HalfTerm.objects.filter(
            academic_year_id__in=[h.academic_year_id for h in second_halves],
            term__in=[h.term for h in second_halves],
            half=1,
        )
    }
    current = Contract.objects.filter(
        organisation_id__in=half_terms,
        kind=SessionKind.ONE_TO_ONE,
        supervisee_signed_at__isnull=False,
        supervisor_signed_at__isnull=False,
    ).filter(Q(end_date__isnull=True) | Q(end_date__gte=today))
    earliest = min([h.starts for h in half_terms.values()] + [h.starts for h in first_halves.values()])
    closed_everywhere: dict[int, set[date]] = defaultdict(set)
    closed_in: dict[int, set[date]] = defaultdict(set)
    for organisation_id, setting_id, day in ClosureDay.objects.filter(
        organisation_id__in=half_terms, date__range=(earliest, today)
    ).values_list("organisation_id", "setting_id", "date"):
        (closed_in[setting_id] if setting_id else closed_everywhere[organisation_id]).add(day)
    held: dict[int, list[date]] = defaultdict(list)
    for contract_id, starts_at in Session.objects.filter(
        organisation_id__in=half_terms,
        contract__isnull=False,
        status=SessionStatus.HELD,
        starts_at__gte=_midnight(earliest),
    ).values_list("contract_id", "starts_at"):
        held[contract_id].append(_local_day(starts_at))

    # Most agreements are plainly not behind: a session held since the half term ended, or one held in it
    # where no more than one is asked for. Those are set aside on a few columns each, and only the rest
    # are loaded whole (with their people, settings and overrides) for the rules below.
    candidates = []
    for contract_id, previous_id, organisation_id, frequency, new_to_post, has_overrides in current.annotate(
        has_overrides=Exists(FrequencyOverride.objects.filter(contract=OuterRef("pk")))
    ).values_list("id", "previous_id", "organisation_id", "frequency", "supervisee__new_to_post", "has_overrides"):
        half_term = half_terms[organisation_id]
        session_days = held[contract_id] + (held[previous_id] if previous_id else [])
        if any(d > half_term.ends for d in session_days):
            continue  # made good
        at_most_one = frequency in AT_MOST_ONE and not new_to_post and not has_overrides
        if at_most_one and any(half_term.starts <= d <= half_term.ends for d in session_days):
            continue
        candidates.append(contract_id)
    contracts = (
        Contract.objects.filter(pk__in=candidates)
        .select_related("supervisee__user", "supervisor__user", "previous")
        # Not the agreement's wording: only what the rules below and the reminder's words read.
        .only(
            "id", "code", "organisation_id", "frequency", "start_date", "previous__id", "previous__start_date",
            "supervisee__start_date", "supervisee__employment_type", "supervisee__new_to_post",
            *_person_fields("supervisee"), *_person_fields("supervisor"),
        )
        # As plain lists (`to_attr`): a prefetch into a related manager builds a queryset per agreement.
        .prefetch_related(
            Prefetch("overrides", to_attr="override_list"),
            Prefetch("supervisee__settings", queryset=Setting.objects.only("id"), to_attr="setting_list"),
        )
        .order_by("id")
    )  # fmt: skip

    # Agreements of one organisation share the half term, and people of one setting its closures: the
    # school weeks of a window are counted once, not once an agreement.
    weeks_in: dict[tuple, int] = {}
    overdue = []
    for contract in contracts:
        half_term = half_terms[contract.organisation_id]
        supervisee = contract.supervisee
        if contract.start_date > half_term.ends or not _reachable(supervisee, today):
            continue
        frequency = effective_frequency(contract, half_term.starts, contract.override_list)
        starts = half_term.starts
        if frequency == Frequency.TERMLY:
            # One a term: judged when the term ends, over both halves.
            if half_term.half == 1:
                continue
            first_half = first_halves.get((half_term.academic_year_id, half_term.term))
            starts = first_half.starts if first_half else starts
        if why_not_due(supervisee, starts, half_term.ends):
            continue
        window = supervisable_window(supervisee, starts, half_term.ends)
        if window is None:
            continue
        chain_start = contract.previous.start_date if contract.previous_id else contract.start_date
        first, last = max(window[0], chain_start), window[1]
        closed = set(closed_everywhere[contract.organisation_id])
        for setting in supervisee.setting_list:
            closed |= closed_in[setting.id]
        window_key = (first, last, frozenset(closed))
        if window_key not in weeks_in:
            weeks_in[window_key] = len(school_weeks(school_days(first, last, closed))) if first <= last else 0
        weeks = weeks_in[window_key]
        if frequency == Frequency.TERMLY:
            needed = 1 if weeks else 0
        else:
            needed = sessions_needed(frequency, weeks, first_half_of_term=True)
        session_days = held[contract.id] + (held[contract.previous_id] if contract.previous_id else [])
        in_period = sum(1 for d in session_days if starts <= d <= half_term.ends)
        made_good = any(d > half_term.ends for d in session_days)
        if in_period < needed and not made_good:
            overdue.append(_Overdue(contract, half_term, needed, in_period))
    return overdue


def _overdue_due(item: _Overdue) -> Due:
    contract = item.contract
    words = partial(_overdue_words, item)
    return Due(
        contract.supervisor, Kind.SESSION_OVERDUE, "contract", str(contract.code), str(item.half_term.code), words
    )


def _overdue_words(item: _Overdue) -> Words:
    contract, half_term = item.contract, item.half_term
    supervisee = contract.supervisee.full_name
    name = f"{half_term.label} {half_term.academic_year.name}"
    return Words(
        title=f"Supervision overdue: {supervisee} ({half_term.label})",
        body=(
            f"{supervisee} was due {_sessions(item.needed)} of supervision in {name}, which ended on "
            f"{_day(half_term.ends)}, and {_held(item.held)}. Please book a session as soon as you can."
        ),
        url=_link("supervision:session-book") + f"?contract={contract.code}",
    )


def find_overdue_sessions(today: date, now: datetime, days: SchoolDays) -> list[Due]:
    """Rule 5: an agreement behind in the last half term -> its supervisor, to book a session."""
    return [
        _overdue_due(item) for item in _overdue_agreements(today, days) if _reachable(item.contract.supervisor, today)
    ]


def find_overdue_escalations(today: date, now: datetime, days: SchoolDays) -> list[Due]:
    """Rule 6: still overdue 7 days after the half term ended -> heads and DSLs of the supervisee's settings."""
    items = [
        i for i in _overdue_agreements(today, days)
        if i.half_term.ends + timedelta(days=OVERDUE_ESCALATION_DAYS) <= today
    ]  # fmt: skip
    if not items:
        return []
    reminders = {
        i.contract.id: [_overdue_due(i).key] if _reachable(i.contract.supervisor, today) else [] for i in items
    }
    recorded = _recorded(k for keys in reminders.values() for k in keys)
    leaders = _Leaders({i.contract.organisation_id for i in items}, today)
    gap = timedelta(days=OVERDUE_ESCALATION_DAYS - 1)
    due = []
    for item in items:
        contract, half_term = item.contract, item.half_term
        if not _reminded_long_enough(reminders[contract.id], recorded, lambda at: _local_day(at) + gap <= today):
            continue
        supervisee, supervisor = contract.supervisee, contract.supervisor
        settings = [s.id for s in supervisee.setting_list]
        words = partial(_overdue_escalation_words, item)
        for person in leaders.of(contract.organisation_id, settings, [supervisee.id, supervisor.id]):
            due.append(
                Due(person, Kind.SESSION_OVERDUE_ESCALATION, "contract", str(contract.code), str(half_term.code), words)
            )
    return due


def _overdue_escalation_words(item: _Overdue) -> Words:
    contract, half_term = item.contract, item.half_term
    supervisee, supervisor = contract.supervisee, contract.supervisor
    return Words(
        title=f"Supervision overdue for a week: {supervisee.full_name}",
        body=(
            f"{supervisee.full_name}, supervised by {supervisor.full_name}, was due "
            f"{_sessions(item.needed)} of supervision in {half_term.label} "
            f"{half_term.academic_year.name}, which ended on {_day(half_term.ends)}; "
            f"{_held(item.held)}, and none has been held since. "
            f"Please follow it up with {supervisor.full_name}."
        ),
        url=_link("supervision:contract-detail", contract.code),
    )


# --- Actions ----------------------------------------------------------------------------------------


def _open_actions(organisation_ids, first: date, last: date):
    return (
        Action.objects.filter(
            organisation_id__in=organisation_ids, status=ActionStatus.OPEN, due_date__range=(first, last)
        )
        .select_related("owner__user", "record__session")
        .only(
            "id", "code", "organisation_id", "due_date", "record__id", "record__session__id",
            "record__session__starts_at", *_person_fields("owner"),
        )
        .order_by("due_date", "id")
    )  # fmt: skip


def find_actions_due(today: date, now: datetime, days: SchoolDays) -> list[Due]:
    """Rule 7: an open action due by the next school day -> its owner."""
    due = []
    first = today + timedelta(days=1)
    for action in _open_actions(days.open, first, days.last_next_school_day()):
        if action.due_date > days.next_school_day(action.organisation_id) or not _reachable(action.owner, today):
            continue
        words = partial(_action_due_words, action)
        due.append(Due(action.owner, Kind.ACTION_DUE, "action", str(action.code), action.due_date.isoformat(), words))
    return due


def _action_due_words(action: Action) -> Words:
    agreed = _day(_local_day(action.record.session.starts_at))
    return Words(
        title=f"An action from supervision is due on {_short_day(action.due_date)}",
        body=(
            f"An action you agreed to at the supervision of {agreed} is due on {_day(action.due_date)}. "
            "Mark it done on your actions page when it is; if it cannot be done in time, "
            "talk it over at your next session."
        ),
        url=_link("records:action-list") + f"#action-{action.code}",
    )


def find_actions_overdue(today: date, now: datetime, days: SchoolDays) -> list[Due]:
    """Rule 8: an open action past its due date (within the look-back) -> its owner."""
    due = []
    for action in _open_actions(days.open, today - LOOKBACK, today - timedelta(days=1)):
        if not _reachable(action.owner, today):
            continue
        words = partial(_action_overdue_words, action)
        due.append(
            Due(action.owner, Kind.ACTION_OVERDUE, "action", str(action.code), action.due_date.isoformat(), words)
        )
    return due


def _action_overdue_words(action: Action) -> Words:
    agreed = _day(_local_day(action.record.session.starts_at))
    return Words(
        title="An action from supervision is overdue",
        body=(
            f"An action you agreed to at the supervision of {agreed} was due on {_day(action.due_date)} "
            "and is still open. Mark it done on your actions page if it is, or take it to your next session."
        ),
        url=_link("records:action-list") + f"#action-{action.code}",
    )


# --- Safeguarding decisions (urgent) ----------------------------------------------------------------


def _unconfirmed_decisions(signed_before: datetime):
    return (
        SafeguardingDecision.objects.filter(
            confirmed_at__isnull=True, record__locked_at__isnull=False, record__locked_at__lte=signed_before
        )
        .select_related("key_person__user", "record__session__setting")
        .only(
            "id", "code", "organisation_id", "child_reference", "record__id", "record__locked_at",
            "record__session__id", "record__session__starts_at", "record__session__setting__id",
            "record__session__setting__name", *_person_fields("key_person"),
        )
        .order_by("id")
    )  # fmt: skip


def _decisions_unconfirmed_after(days: SchoolDays, now: datetime, wait: timedelta) -> list[SafeguardingDecision]:
    """Decisions not confirmed `wait` after their record was signed. Read once a sweep (rules 9 and 10 both
    ask): `days` keeps those of rule 9's shorter wait, and rule 10 takes those that have waited longer."""
    if days.unconfirmed is None:
        days.unconfirmed = list(_unconfirmed_decisions(now - DECISION_REMINDER_AFTER))
    return [d for d in days.unconfirmed if d.record.locked_at <= now - wait]


def _decision_due(decision: SafeguardingDecision) -> Due:
    words = partial(_decision_words, decision)
    return Due(decision.key_person, Kind.DECISION_UNCONFIRMED, "decision", str(decision.code), "1", words)


def _decision_words(decision: SafeguardingDecision) -> Words:
    record = decision.record
    setting = record.session.setting
    return Words(
        # The title is the email's subject: never the child reference (it is in the body, after sign-in
        # in the centre), so a subject line shown on a lock screen or a shared inbox names no child.
        title=f"Record a safeguarding decision on the child's file ({setting.name})",
        body=(
            f"A signed supervision record of {_day(_local_day(record.session.starts_at))} at {setting.name} names "
            f"you as the key person for a safeguarding decision about {decision.child_reference}. It is not yet "
            "confirmed as recorded on the child's file. Record it in your child-protection system, then confirm "
            "it here with the date and the system's reference."
        ),
        url=_link("records:decision-confirm", decision.code),
    )


def find_decisions_unconfirmed(today: date, now: datetime, days: SchoolDays) -> list[Due]:
    """Rule 9 (urgent): a decision not confirmed 48 hours after signing -> its key person."""
    return [
        _decision_due(d)
        for d in _decisions_unconfirmed_after(days, now, DECISION_REMINDER_AFTER)
        if _reachable(d.key_person, today)
    ]


def find_decision_escalations(today: date, now: datetime, days: SchoolDays) -> list[Due]:
    """Rule 10 (urgent): still unconfirmed 96 hours after signing -> DSLs and heads of the setting."""
    decisions = _decisions_unconfirmed_after(days, now, DECISION_ESCALATION_AFTER)
    if not decisions:
        return []
    reminders = {d.id: [_decision_due(d).key] if _reachable(d.key_person, today) else [] for d in decisions}
    recorded = _recorded(k for keys in reminders.values() for k in keys)
    leaders = _Leaders({d.organisation_id for d in decisions}, today)
    gap = DECISION_ESCALATION_AFTER - DECISION_REMINDER_AFTER
    due = []
    for decision in decisions:
        if not _reminded_long_enough(reminders[decision.id], recorded, lambda at: at + gap <= now):
            continue
        setting_id = decision.record.session.setting_id
        words = partial(_decision_escalation_words, decision)
        for person in leaders.of(decision.organisation_id, [setting_id], [decision.key_person_id]):
            due.append(Due(person, Kind.DECISION_ESCALATION, "decision", str(decision.code), "1", words))
    return due


def _decision_escalation_words(decision: SafeguardingDecision) -> Words:
    record, setting = decision.record, decision.record.session.setting
    return Words(
        title=f"Safeguarding decision not on the child's file ({setting.name})",
        body=(
            f"{decision.key_person.full_name} is the key person for a safeguarding decision about "
            f"{decision.child_reference} in a supervision record at {setting.name}, signed on "
            f"{_day(_local_day(record.locked_at))}. Four days on, it is not confirmed as recorded on "
            f"the child's file. Please follow it up with {decision.key_person.full_name}."
        ),
        url=_link("records:safeguarding") + safeguarding_at(decision=decision),
    )


# --- Agreement reviews ------------------------------------------------------------------------------


def _signed_current_agreements(organisation_ids, first: date, last: date):
    return (
        Contract.objects.filter(
            organisation_id__in=organisation_ids,
            end_date__isnull=True,
            supervisee_signed_at__isnull=False,
            supervisor_signed_at__isnull=False,
            review_date__range=(first, last),
        )
        .select_related("supervisee__user", "supervisor__user")
        .only("id", "code", "review_date", *_person_fields("supervisee"), *_person_fields("supervisor"))
        .order_by("review_date", "id")
    )


def _review_dues(contract: Contract, today: date, kind: str, words) -> list[Due]:
    words = partial(words, contract)
    period = contract.review_date.isoformat()
    return [
        Due(person, kind, "contract", str(contract.code), period, words)
        for person in (contract.supervisee, contract.supervisor)
        if _reachable(person, today)
    ]


def _review_due_words(contract: Contract) -> Words:
    return Words(
        title=f"Review your supervision agreement by {_short_day(contract.review_date)}",
        body=(
            f"The supervision agreement between {contract.supervisee.full_name} and {contract.supervisor.full_name} "
            f"is due for its annual review on {_day(contract.review_date)}. Meet to review it, then renew it from "
            "the agreement's page."
        ),
        url=_link("supervision:contract-detail", contract.code),
    )


def _review_overdue_words(contract: Contract) -> Words:
    return Words(
        title="Supervision agreement review overdue",
        body=(
            f"The supervision agreement between {contract.supervisee.full_name} and {contract.supervisor.full_name} "
            f"was due for its annual review on {_day(contract.review_date)}. Review it together and renew it from "
            "the agreement's page."
        ),
        url=_link("supervision:contract-detail", contract.code),
    )


def find_reviews_due(today: date, now: datetime, days: SchoolDays) -> list[Due]:
    """Rule 11: an agreement whose review date is within 30 days -> both."""
    due = []
    for contract in _signed_current_agreements(days.open, today, today + timedelta(days=REVIEW_DUE_DAYS)):
        due += _review_dues(contract, today, Kind.CONTRACT_REVIEW_DUE, _review_due_words)
    return due


def find_reviews_overdue(today: date, now: datetime, days: SchoolDays) -> list[Due]:
    """Rule 12: an agreement past its review date -> both."""
    due = []
    for contract in _signed_current_agreements(days.open, date.min, today - timedelta(days=1)):
        due += _review_dues(contract, today, Kind.CONTRACT_REVIEW_OVERDUE, _review_overdue_words)
    return due


# --- The sweep --------------------------------------------------------------------------------------

URGENT_FINDERS = [find_decisions_unconfirmed, find_decision_escalations]
FINDERS = [
    find_agenda_prompts,
    find_session_reminders,
    find_signatures_pending,
    find_signature_escalations,
    find_overdue_sessions,
    find_overdue_escalations,
    find_actions_due,
    find_actions_overdue,
    find_reviews_due,
    find_reviews_overdue,
]


def due_now(now: datetime | None = None) -> list[Due]:
    """Every reminder due at `now`: urgent ones always, the rest only where it is a school day after 07:00."""
    now = now or timezone.now()
    days = SchoolDays.load(now)
    finders = URGENT_FINDERS + (FINDERS if days.open else [])
    return [item for finder in finders for item in finder(days.today, now, days)]


# Objects the cyclic garbage collector lets pile up before it looks (Python's default is 700).
SWEEP_GC_THRESHOLD = 100_000


@contextmanager
def _collecting_less_often():
    """The sweep builds some 100,000 objects (rows, people, reminders) that all live until it ends. With the
    default threshold the collector scans them again and again as they pile up, which was half the sweep's
    CPU time at 12,000 staff; nothing in the sweep needs its cycles freed sooner. Reference counting still
    frees everything else at once, and the threshold is put back after."""
    threshold = gc.get_threshold()
    gc.set_threshold(SWEEP_GC_THRESHOLD, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


def sweep(now: datetime | None = None) -> int:
    """Record every reminder due now, once; their emails are queued on commit. Returns how many are new."""
    with _collecting_less_often():
        # The items are mappings whose words are written only for those not in the ledger yet.
        recorded = notify_many(due_now(now))
    if recorded:
        logger.info("Reminder sweep recorded %d notifications", recorded)
    return recorded
