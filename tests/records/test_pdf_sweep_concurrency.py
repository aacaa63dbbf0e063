"""Two PDF sweeps at once queue each late render once (PostgreSQL: the second skips the rows the first
holds locked, and finds them stamped once it commits)."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from records import late_files, services
from records.models import Record
from tests.records.helpers import held_session

pytestmark = pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="SQLite runs one writer at a time; the row lock is PostgreSQL's",
)


# Committed data, so two connections see it; the serialized rollback puts back what migrations wrote.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_sweep_skips_the_record_another_sweep_holds_and_neither_queues_it_twice(cast, monkeypatch):
    record = services.record_start(actor=cast.supervisor, session=held_session(cast))
    Record.objects.filter(pk=record.pk).update(
        status="signed", locked_at=timezone.now(), content_hash="0" * 64,
        pdf_queued_at=timezone.now() - timedelta(minutes=10),
    )  # fmt: skip
    queued = []
    monkeypatch.setattr(late_files.render_record_pdf, "delay", queued.append)
    holding, release = threading.Event(), threading.Event()
    results = {}

    def first_sweep():
        # The first sweep has claimed the row and not yet committed.
        try:
            with transaction.atomic():
                results["first"] = late_files._queue([record.pk], timezone.now(), why="late")
                holding.set()
                assert release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_sweep)
    thread.start()
    assert holding.wait(10)
    assert late_files.requeue_missing_pdfs() == 0  # skipped at once, not waited for
    release.set()
    thread.join(10)
    assert results["first"] == [record.pk]
    assert late_files.requeue_missing_pdfs() == 0  # stamped by the first
    assert queued == [record.pk]
