"""The rows behind each figure of the dashboard: what a list shows, never what was said in supervision."""

from dataclasses import dataclass, field
from datetime import date, datetime

from django.template.defaultfilters import floatformat
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from accounts.models import StaffMember
from accounts.templatetags.dates import day, day_and_time
from records.models import (
    FunctionTag,
    Record,
    SafeguardingDecision,
)

from ..models import (
    Contract,
    HalfTerm,
    Session,
)
from ..templatetags.dashboard_badges import contract_status_badge, decision_waiting


def session_who(session: Session) -> str:
    """Whose session it was, as a list names it: "Group: <name>", or the supervisee's name."""
    if session.group_id:
        return f"Group: {session.group.name}"
    return session.contract.supervisee.user.full_name


class _SettingsCell:
    """A row naming its person's settings (`settings`, a list of names)."""

    @property
    def settings_label(self) -> str:
        return ", ".join(self.settings)


class _SessionCells:
    """A row of a session (`_session`): whose it was and its setting."""

    @property
    def who(self) -> str:
        return session_who(self._session)

    @property
    def setting_name(self) -> str:
        return self._session.setting.name


class _RecordCells(_SessionCells):
    """A row of a record (`_record`), or of something in one: its session's day and its supervisor."""

    @property
    def _session(self) -> Session:
        return self._record.session

    @property
    def session_day(self) -> str:
        return day(self._session.starts_at)

    @property
    def supervisor_name(self) -> str:
        return self._record.supervisor.user.full_name


# The names of an agreement's two people, read as columns of the agreement where its rows are read
# without the people (`board.ROW_NAMES`).
SUPERVISEE_NAME = "row_supervisee_name"
SUPERVISOR_NAME = "row_supervisor_name"


class _AgreementCells(_SettingsCell):
    """A row of an agreement (`contract`): its two people's names."""

    def _name(self, column: str, person: str) -> str:
        """The name read with the row, else the person's (loaded with the agreement by its query)."""
        named = self.contract.__dict__.get(column)
        return named if named is not None else getattr(self.contract, person).user.full_name

    @property
    def supervisee_name(self) -> str:
        return self._name(SUPERVISEE_NAME, "supervisee")

    @property
    def supervisor_name(self) -> str:
        return self._name(SUPERVISOR_NAME, "supervisor")


NEVER_HELD = mark_safe('<span class="text-body-secondary">Never</span>')  # noqa: S308 (a constant)


@dataclass
class AgreementRow(_AgreementCells):
    """An agreement owed supervision in a half term, and how it went."""

    contract: Contract
    half_term: HalfTerm
    settings: list[str]
    setting_ids: list[int]
    held: int  # sessions held in the half term (this agreement, or the one it replaced)
    signed: bool  # one of them has a signed record
    booked: bool  # a session held or booked in the half term
    url: str | None
    last_held: datetime | None = None  # the last held session (this agreement's, or the one it replaced)
    days_overdue: int | None = None
    caught_up: datetime | None = None  # the first session held after an ended half term, if any
    links: "object | None" = field(default=None, repr=False, compare=False)

    @property
    def last_record_url(self) -> str | None:
        """The record of the last held session, where the viewer may open it (looked up by `fill_links`
        for a page of rows at once; alone, one query)."""
        return self.links.url(self) if self.links is not None else None

    # The cells of a list's row, each one attribute for the template (a page of 200 rows looked up the
    # names through four objects each, then included a template for the last held date).

    @property
    def frequency_label(self) -> str:
        return self.contract.get_frequency_display()

    @property
    def last_held_cell(self) -> SafeString:
        """The last held day, linked to its record where the viewer may open it; "Never" if none."""
        if self.last_held is None:
            return NEVER_HELD
        if url := self.last_record_url:
            return format_html(
                '<a href="{}">{}<span class="visually-hidden">: the record of {}\'s last session</span></a>',
                url, day(self.last_held), self.supervisee_name,
            )  # fmt: skip
        return format_html("{}", day(self.last_held))

    @property
    def overdue_badge(self) -> SafeString:
        tone = "success" if self.caught_up else "danger" if self.days_overdue else "warning"
        return format_html('<span class="badge text-bg-{}">{}</span>', tone, self.overdue_label)

    @property
    def overdue_label(self) -> str:
        if self.days_overdue is None:
            return ""
        if self.caught_up is not None:
            return f"Caught up on {day(self.caught_up)}"
        if self.days_overdue == 0:
            return "Not booked"
        return f"{self.days_overdue} day{'s' if self.days_overdue != 1 else ''}"

    @property
    def outcome(self) -> str:
        if self.signed:
            return "Held, record signed"
        if self.held:
            return "Held, record not signed yet"
        if self.booked:
            return "Booked"
        return "No session"


@dataclass
class ContractRow(_AgreementCells):
    """A current agreement: missing signatures, or its review due or overdue."""

    contract: Contract
    settings: list[str]
    status: str
    url: str | None

    @property
    def waiting_for(self) -> str:
        c = self.contract
        missing = [
            who
            for who, signed in (("the supervisee", c.supervisee_signed_at), ("the supervisor", c.supervisor_signed_at))
            if signed is None
        ]
        return " and ".join(missing)

    @property
    def started_day(self) -> str:
        return day(self.contract.start_date)

    @property
    def review_day(self) -> str:
        return day(self.contract.review_date) if self.contract.review_date else ""

    @property
    def status_badge(self) -> SafeString:
        return contract_status_badge(self.status)


@dataclass
class StaffRow(_SettingsCell):
    staff: StaffMember
    settings: list[str]
    add_url: str | None

    @property
    def name(self) -> str:
        return self.staff.user.full_name

    @property
    def started_day(self) -> str:
        return day(self.staff.start_date) if self.staff.start_date else ""

    @property
    def supervisor_name(self) -> str:
        return self.staff.supervisor.user.full_name if self.staff.supervisor_id else ""


@dataclass
class RecordRow(_RecordCells):
    record: Record
    waiting_for: str
    since: date
    days: int
    url: str | None

    @property
    def _record(self) -> Record:
        return self.record

    @property
    def since_day(self) -> str:
        return day(self.since)


@dataclass
class ActionRow:
    """An open action past its due date, read as plain values with its names by key
    (`Dashboard._overdue_actions_rows`), so a page of 200 builds no model object."""

    action_id: int
    owner_name: str
    due_date: date
    days_overdue: int
    url: str | None
    session_starts_at: datetime
    who: str  # whose session it was, as `session_who` says it
    supervisor_name: str
    setting_name: str

    @property
    def due_day(self) -> str:
        return day(self.due_date)

    @property
    def session_day(self) -> str:
        return day(self.session_starts_at)


@dataclass
class DecisionRow(_RecordCells):
    decision: SafeguardingDecision
    signed_on: date
    days: int
    url: str | None

    @property
    def key_person_name(self) -> str:
        return self.decision.key_person.user.full_name

    @property
    def signed_day(self) -> str:
        return day(self.signed_on)

    @property
    def waiting(self) -> SafeString:
        return decision_waiting(self.days)

    @property
    def _record(self) -> Record:
        return self.decision.record


@dataclass
class FlagRow:
    kind: str
    setting: str
    url: str | None


@dataclass
class CancellationRow(_SessionCells):
    session: Session
    rebooked: Session | None
    hours: float | None  # from the cancellation to the rebooked session's creation
    url: str | None
    rebooked_url: str | None

    @property
    def booked_for(self) -> str:
        return day_and_time(self.session.starts_at)

    @property
    def _session(self) -> Session:
        return self.session

    @property
    def supervisor_name(self) -> str:
        return self.session.supervisor.user.full_name

    @property
    def cancelled_when(self) -> str:
        return day_and_time(self.session.cancelled_at)

    @property
    def cancelled_by_name(self) -> str:
        """Who cancelled it, when someone did ("" for a session the product cancelled)."""
        return self.session.cancelled_by.user.full_name if self.session.cancelled_by_id else ""

    @property
    def rebooked_for(self) -> str:
        return day_and_time(self.rebooked.starts_at) if self.rebooked is not None else ""

    @property
    def hours_label(self) -> str:
        return f"{floatformat(self.hours, 1)} hours" if self.hours is not None else "—"


@dataclass
class LeaverRow(_SettingsCell):
    """A leaver (or someone leaving soon) with work still in their name, to hand to someone else."""

    staff: StaffMember
    settings: list[str]
    has_left: bool
    supervisees: int
    agreements: int
    records: int
    actions: int
    url: str | None

    @property
    def name(self) -> str:
        return self.staff.user.full_name

    @property
    def leaving_day(self) -> str:
        return day(self.staff.leaving_date)


@dataclass
class CaseloadRow:
    supervisor: StaffMember
    agreements: int = 0
    unsigned: int = 0
    has_own_supervision: bool = True


@dataclass
class BalanceRow:
    name: str
    counts: dict = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def percent(self, function: str, total: int | None = None) -> int:
        """`total` when the caller has it: the trust's summary asks thousands of times."""
        total = self.total if total is None else total
        return round(100 * self.counts.get(function, 0) / total) if total else 0

    @property
    def cells(self):
        """(count, percent) for each function in the fixed order."""
        total = self.total
        return [(self.counts.get(f, 0), self.percent(f, total)) for f in FunctionTag.values]

    @property
    def cells_html(self) -> SafeString:
        """The row's cells, a count and its share for each function: built here, not by a loop in the
        template for each of a trust's hundreds of supervisors (issue 14)."""
        return format_html_join("", '<td>{} <span class="text-body-secondary">({}%)</span></td>', self.cells)


@dataclass
class Tile:
    number: str
    label: str
    tone: str = ""  # "good", "warn" or "bad": a word for CSS, the number and label say the rest
