"""Small builders for supervision tests: signed agreements and bookable times."""

from datetime import date, datetime, time, timedelta

from django.utils import timezone

from supervision import services
from supervision.models import Contract
from supervision.slots import LONDON


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
