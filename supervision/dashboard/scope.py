"""Who sees which settings and half terms of the dashboard, and the small helpers every figure uses."""

from datetime import date, datetime, time

from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, StaffMember
from records.access import live_grants_for

from ..models import (
    HalfTerm,
    _scope_settings,
)
from ..slots import LONDON


def dashboard_scope(staff: StaffMember | None):
    """Whose figures the person sees by their role: "organisation", the ids of the settings they lead as
    head or DSL, or None. Auditors see nothing by role: only what their live grants cover
    (`auditor_windows`)."""
    if staff is None:
        return None
    if _scope_settings(staff, Role.ORG_ADMIN) == "organisation":
        return "organisation"
    return _scope_settings(staff, Role.HEAD, Role.DSL)


def auditor_windows(staff: StaffMember) -> list[tuple[set, date, date]]:
    """(setting ids, first day, last day) of each of the person's live auditor grants. One query."""
    if not staff.has_role(Role.AUDITOR):
        return []
    grants = live_grants_for(staff).prefetch_related("settings")
    return [({s.id for s in g.settings.all()}, g.covers_from, g.covers_until) for g in grants]


def settings_in_windows(windows, half_term: HalfTerm) -> set:
    """The settings whose grants cover some of the half term."""
    ids = set()
    for setting_ids, first, last in windows:
        if first <= half_term.ends and last >= half_term.starts:
            ids |= setting_ids
    return ids


def default_half_term(half_terms: list[HalfTerm], today: date) -> HalfTerm | None:
    """The half term running today, else the most recent one to have started, else the next."""
    started = [h for h in half_terms if h.starts <= today]
    if started:
        return max(started, key=lambda h: h.starts)
    upcoming = [h for h in half_terms if h.starts > today]
    return min(upcoming, key=lambda h: h.starts) if upcoming else None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=LONDON)


def _local_day(moment: datetime) -> date:
    return timezone.localtime(moment, LONDON).date()


def half_term_name(half_term: HalfTerm) -> str:
    return f"{half_term.label} {half_term.academic_year.name}"


_URL_MARK = "00000000-0000-0000-0000-00000000c0de"
_url_prefixes: dict[str, tuple[str, str]] = {}


def object_url(name: str, code) -> str:
    """reverse(name, kwargs={"code": code}), reversing each URL name once: a list of thousands of rows
    would otherwise spend most of its time in the URL resolver."""
    if name not in _url_prefixes:
        before, _, after = reverse(name, kwargs={"code": _URL_MARK}).partition(_URL_MARK)
        _url_prefixes[name] = (before, after)
    before, after = _url_prefixes[name]
    return f"{before}{code}{after}"


# The agreement wording (read on the agreement's own page): never loaded for a list.
CONTRACT_WORDING = ("purpose", "supervisor_responsibilities", "supervisee_responsibilities", "confidentiality_terms")


def _without_wording(path: str) -> list[str]:
    return [f"{path}__{name}" if path else name for name in CONTRACT_WORDING]
