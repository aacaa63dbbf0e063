"""Celery adapters for records: take ids, call the module that does the work."""

from celery import group, shared_task


@shared_task(name="records.render_record_pdf")
def render_record_pdf(record_id: int, export: int | None = None) -> None:
    """Render, sign and store a signed record's PDF; `export` is the auditor's export waiting for it, told
    when it is made."""
    from .pdf import store_record_pdf

    path = store_record_pdf(record_id)
    if export is not None:
        from .exports import pdf_made

        pdf_made(export, stored=path is not None)


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
def run_export(job_id: int, polls: int = 0) -> None:
    """Build an export (an auditor's ZIP or a subject access export); safe to deliver twice.

    An auditor's ZIP whose records have PDFs not yet stored first hands them to the workers, a task each
    (a group: as many render at once as there are worker processes), and looks again a second later
    rather than holding a worker while they render; once all are stored, or after `RENDER_POLLS` looks,
    it builds the ZIP (rendering any still missing itself). The ZIP is written a PDF at a time from the
    stored files, so memory does not grow with the number of records."""
    from .exports import RENDER_POLL_SECONDS, RENDER_POLLS, pdfs_to_render, waiting_for_pdfs
    from .exports import run_export as build

    missing = pdfs_to_render(job_id) if polls < RENDER_POLLS else []
    if missing:
        waiting_for_pdfs(job_id, len(missing), first=polls == 0)
        if polls == 0:
            group(render_record_pdf.s(record_id, export=job_id) for record_id in missing).apply_async()
        run_export.apply_async((job_id,), {"polls": polls + 1}, countdown=RENDER_POLL_SECONDS)
        return
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
