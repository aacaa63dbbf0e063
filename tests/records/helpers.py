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
    record = written_record(cast, **kwargs)
    supervisor = record.supervisor
    services.record_submit(actor=supervisor, record=record)
    for attendee in record.session.attendees.all():
        services.record_sign(actor=attendee, record=record, password=PASSWORD)
    services.record_sign(actor=supervisor, record=record, password=PASSWORD)
    record.refresh_from_db()
    return record
