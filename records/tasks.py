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


@shared_task(name="records.purge_expired_records")
def purge_expired_records() -> int:
    """The daily retention sweep (02:30, installed by migration 0002): lists leavers past the retention
    period for deletion and deletes after the grace period; returns how many people were purged."""
    from .retention import purge_expired

    return len(purge_expired())


@shared_task(name="records.run_export")
def run_export(job_id: int) -> None:
    """Build an export (an auditor's ZIP or a subject access export); safe to deliver twice."""
    from .exports import run_export as build

    build(job_id)


@shared_task(name="records.delete_expired_exports")
def delete_expired_exports() -> int:
    """Hourly (installed by migration 0004): delete expired exports' files; returns how many went."""
    from .exports import delete_expired_export_files

    return delete_expired_export_files()


@shared_task(name="records.requeue_missing_files")
def requeue_missing_files() -> dict:
    """Every five minutes (installed by migration 0009): queue again the signed PDFs and the exports whose
    render is late, each once; returns how many of each were queued."""
    from .late_files import requeue_late_exports, requeue_missing_pdfs

    return {"pdfs": requeue_missing_pdfs(), "exports": requeue_late_exports()}
