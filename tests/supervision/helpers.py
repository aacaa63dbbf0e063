"""Small builders for supervision tests: signed agreements and bookable times."""

from datetime import date, datetime, time, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from supervision import services
from supervision.models import Contract
from supervision.slots import LONDON

# The coverage summary's tests: its triggers are PostgreSQL's; on SQLite it is neither written nor read.
SUMMARY_ON_POSTGRESQL = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="The triggers are PostgreSQL's; on SQLite the summary is neither written nor read",
    ),
]


def signed_contract(supervisee, supervisor, *, start=date(2025, 9, 1), **kwargs) -> Contract:
    contract = services.contract_create(
        actor=supervisor, supervisee=supervisee, supervisor=supervisor, start_date=start, **kwargs
    )
    now = timezone.now()
    Contract.objects.filter(pk=contract.pk).update(
        supervisee_signed_at=now, supervisor_signed_at=now, signed_hash=services.contract_content_hash(contract)
    )
    contract.refresh_from_db()
    return contract


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON)


def next_weekday(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def plan_form(half_term, caseload: str, rows, *, action: str = "check", ticked=None) -> dict:
    """The planner's POST for these rows of (agreement code, day, "HH:MM"): every row ticked, or only the
    indexes in `ticked`."""
    data = {
        "action": action,
        "half_term": half_term.code,
        "caseload": caseload,
        "rows-TOTAL_FORMS": len(rows),
        "rows-INITIAL_FORMS": len(rows),
    }
    for i, (code, day, at_time) in enumerate(rows):
        data[f"rows-{i}-contract"] = code
        data[f"rows-{i}-date"] = day.isoformat()
        data[f"rows-{i}-time"] = at_time
        if ticked is None or i in ticked:
            data[f"rows-{i}-include"] = "on"
    return data


def autumn_two_2026(organisation):
    """Autumn 2 of 2026 (from Mon 2 Nov), with the organisation's calendar made as of Thu 1 Oct 2026."""
    from supervision import services
    from supervision.models import HalfTerm

    services.ensure_calendar(organisation, today=date(2026, 10, 1))
    return HalfTerm.objects.get(organisation=organisation, starts=date(2026, 11, 2))


def planner_agreements(cast) -> dict:
    """The head supervises Sam and the DSL; Sam supervises Sid (all three in the primary); Sue supervises
    Sal (in the secondary). Each signed from Tue 1 Sep 2026."""
    start = date(2026, 9, 1)
    return {
        "sam": signed_contract(cast.supervisor, cast.head, start=start),
        "dev": signed_contract(cast.dsl, cast.head, start=start),
        "sid": signed_contract(cast.supervisee, cast.supervisor, start=start),
        "sal": signed_contract(cast.supervisee2, cast.supervisor2, start=start),
    }
