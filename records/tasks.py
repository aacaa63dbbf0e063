"""Celery adapters for records: take ids, call the module that does the work."""

from celery import shared_task


@shared_task(name="records.render_record_pdf")
def render_record_pdf(record_id: int) -> None:
    from .pdf import store_record_pdf

    store_record_pdf(record_id)


@shared_task(name="records.notify_flag")
def notify_flag(flag_id: int) -> None:
    from .notifications import send_flag_notice

    send_flag_notice(flag_id)


@shared_task(name="records.notify_decisions")
def notify_decisions(record_id: int) -> None:
    from .notifications import send_decision_notices

    send_decision_notices(record_id)
