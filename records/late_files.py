"""Late files: the sweep beat runs every five minutes (`records.requeue_missing_files`, migration 0009).

A worker killed mid-task leaves its task unacknowledged in Redis until the visibility timeout (an hour):
without this, a signed PDF or an export would wait that long. The sweep queues again, once, each signed
record whose PDF (or addendum's PDF) is late and each export nothing was heard of; `store_record_pdf` and
`run_export` keep the first file if the old task turns out to be alive after all. It also says how long
a PDF has been awaited and by when it will be there (`pdf_wait`), for the record page and `/pdf`.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from operator import attrgetter

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Max, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.audit import audit_event, audit_events_bulk

from .models import Addendum, ExportJob, Record, RecordStatus
from .pdf import stored_pdf_path
from .tasks import render_record_pdf, run_export

logger = logging.getLogger(__name__)

# --- Late PDFs -------------------------------------------------------------------------------------

# A PDF is normally stored seconds after its render is queued (the record, or an addendum, locks). Once
# this late, the render is taken for lost (a worker killed mid-render leaves its message in Redis until the
# visibility timeout, an hour) and the sweep queues it again; a run queued again and lost again waits as long.
PDF_LATE_AFTER = timedelta(seconds=settings.PDF_LATE_AFTER_SECONDS)  # three minutes
# How often beat runs `records.requeue_missing_files` (migration 0009 installs it).
SWEEP_EVERY = timedelta(minutes=5)
# Rendering and signing take about a second; a queue behind other jobs, a little more.
RENDER_ALLOWANCE = timedelta(minutes=1)
SWEEP_BATCH = 200


def _pdf_late(now: datetime, late_after: timedelta = PDF_LATE_AFTER) -> Q:
    return Q(pdf_queued_at__isnull=True) | Q(pdf_queued_at__lt=now - late_after)


def _pdf_wanted():
    """Signed records whose stored PDF is missing, or does not yet show every locked addendum."""
    locked = (
        Addendum.objects.filter(record=OuterRef("pk"), locked_at__isnull=False)
        .order_by()
        .values("record")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        Record.objects.filter(status=RecordStatus.SIGNED)
        .annotate(locked_addenda=Coalesce(Subquery(locked), 0))
        .filter(Q(pdf_path="") | Q(locked_addenda__gt=F("pdf_addenda")))
    )


def _queue(
    record_ids: list[int], now: datetime, *, why: str, late_after=PDF_LATE_AFTER, actor=None, request=None
) -> list[int]:
    """Stamp and queue the renders of those of `record_ids` not queued in the last `late_after`: the rows
    are locked (others' locked rows skipped), so two sweeps, or a sweep and a download, queue each render
    once. One audit event each, written in one INSERT per organisation; the messages go on commit."""
    with transaction.atomic():
        claimed = list(
            Record.objects.filter(pk__in=record_ids, status=RecordStatus.SIGNED)
            .filter(_pdf_late(now, late_after))
            .select_for_update(skip_locked=True, of=("self",))
            .select_related(
                "organisation", "session__group", "session__supervisor__user", "session__contract__supervisee__user"
            )
            .order_by("organisation_id", "id")
        )
        Record.objects.filter(pk__in=[r.pk for r in claimed]).update(pdf_queued_at=now)
        for organisation, records in groupby(claimed, key=attrgetter("organisation")):
            audit_events_bulk(
                action="record.pdf_queued_again", actor=actor, organisation=organisation, request=request,
                items=[(r, {"why": why, "queued_before": _iso(r.pdf_queued_at), "locked_at": _iso(r.locked_at)})
                       for r in records],
            )  # fmt: skip
        for record in claimed:
            transaction.on_commit(lambda i=record.pk: render_record_pdf.delay(i), robust=True)
    return [r.pk for r in claimed]


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def requeue_missing_pdfs(now: datetime | None = None) -> int:
    """The sweep: queue again the render of every signed record whose PDF is late (missing, or without a
    locked addendum, PDF_LATE_AFTER after it was last queued). Returns how many were queued."""
    now = now or timezone.now()
    # Served by record_pdf_missing_idx for the records without a file; those awaiting an addendum's
    # document are few (an addendum is rare), found by the EXISTS.
    late = _pdf_wanted().filter(_pdf_late(now)).order_by("pdf_queued_at", "id")
    ids = list(late.values_list("id", flat=True)[:SWEEP_BATCH])
    queued = _queue(ids, now, why="late") if ids else []
    if queued:
        logger.warning("Queued the PDFs of %d signed records again: their renders were late.", len(queued))
    return len(queued)


def queue_lost_pdf(record: Record, *, actor=None, request=None) -> bool:
    """A download found no file: queue the render again if it is late (or the stored file went missing),
    once however often people ask. True when queued now."""
    # A file gone missing is not the sweep's to find (it looks for files never stored): made again soon.
    lost = bool(record.pdf_path) and stored_pdf_path(record) is None
    late_after = RENDER_ALLOWANCE if lost else PDF_LATE_AFTER
    why = "file missing" if lost else "late"
    return bool(_queue([record.pk], timezone.now(), why=why, late_after=late_after, actor=actor, request=request))


@dataclass(frozen=True)
class PdfWait:
    """How long the PDF has been awaited, and by when it will be there."""

    since: datetime
    ready_by: datetime
    overdue: bool
    addendum: bool  # the new document an addendum makes (an earlier one is there to download)


def pdf_wait(record: Record, now: datetime | None = None) -> PdfWait | None:
    """None when the record's PDF is stored and up to date; otherwise when the wait began (the record or
    its latest addendum locked) and the latest it should end: a lost render is queued again by the next
    sweep once PDF_LATE_AFTER has passed. Two queries."""
    if record.status != RecordStatus.SIGNED:
        return None
    now = now or timezone.now()
    addenda = record.addenda.filter(locked_at__isnull=False).aggregate(n=Count("id"), last=Max("locked_at"))
    if record.pdf_path and record.pdf_addenda >= addenda["n"]:
        return None
    since = addenda["last"] if addenda["n"] else record.locked_at
    queued = max(since, record.pdf_queued_at or since)
    ready_by = queued + PDF_LATE_AFTER + SWEEP_EVERY + RENDER_ALLOWANCE
    addendum = bool(addenda["n"] and record.pdf_path)
    return PdfWait(since=since, ready_by=ready_by, overdue=now > ready_by, addendum=addendum)


# --- Late exports ------------------------------------------------------------------------------------

# A running export writes its progress (and so its heartbeat) every few seconds; a queued one is taken off
# the queue at once. One silent this long is taken for lost (its worker died; the message waits in Redis
# until the visibility timeout) and the sweep queues it again, once: `run_export` starts it over, and
# `_finish` keeps the first file if the old run turns out to be alive after all.
EXPORT_LATE_AFTER = timedelta(minutes=5)


def requeue_late_exports(now=None) -> int:
    """Queue again every unfinished, unexpired export neither queued nor heard from in EXPORT_LATE_AFTER.
    Rows are locked (others' locked rows skipped) and stamped, so two sweeps queue each job once."""
    now = now or timezone.now()
    late = now - EXPORT_LATE_AFTER
    with transaction.atomic():
        jobs = list(
            ExportJob.objects.filter(status__in=[ExportJob.Status.QUEUED, ExportJob.Status.RUNNING], expires_at__gt=now)
            .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=late))
            .filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=late))
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("organisation")
            .order_by("id")[:SWEEP_BATCH]
        )
        ExportJob.objects.filter(pk__in=[j.pk for j in jobs]).update(queued_at=now)
        for job in jobs:
            last = max(t for t in (job.queued_at, job.heartbeat_at, job.created_at) if t is not None)
            audit_event(action="export.queued_again", obj=job, organisation=job.organisation,
                        details={"kind": job.kind, "status": job.status, "last_heard": last.isoformat()})  # fmt: skip
            transaction.on_commit(lambda i=job.pk: run_export.delay(i), robust=True)
    if jobs:
        logger.warning("Queued %d exports again: nothing was heard of them for %s.", len(jobs), EXPORT_LATE_AFTER)
    return len(jobs)
