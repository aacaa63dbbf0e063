"""The sweep at the size of a trust (issue 14): rows that cannot be due are not built into Python objects.

Time is measured by `make bench`, never here; these tests count the objects built instead.
"""

import gc
import uuid
from datetime import date, timedelta
from unittest import mock

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import set_script_prefix

from accounts.models import StaffMember
from supervision import reminders
from supervision import services as supervision
from supervision.models import Contract, Notification, SessionStatus
from tests.factories import StaffFactory
from tests.supervision.helpers import signed_contract
from tests.supervision.test_reminders import (  # noqa: F401 (fixtures)
    book,
    calendar,
    contract,
    moment,
    nov,
    submitted_record,
)

pytestmark = pytest.mark.django_db


def _built(model):
    """Counts the instances of `model` read from the database: (patch, ids read)."""
    ids = []
    original = model.from_db.__func__

    def from_db(cls, db, field_names, values):
        obj = original(cls, db, field_names, values)
        ids.append(obj.pk)
        return obj

    return mock.patch.object(model, "from_db", classmethod(from_db)), ids


def test_only_agreements_that_may_be_behind_are_loaded_whole(cast, calendar):  # noqa: F811
    seen = signed_contract(cast.supervisee, cast.supervisor, start=date(2025, 9, 1))
    session = book(seen, date(2025, 10, 8), booked_on=date(2025, 9, 15))
    with time_machine.travel(moment(date(2025, 10, 8), 12), tick=False):
        supervision.session_mark(actor=cast.supervisor, session=session, status=SessionStatus.HELD)
    behind = signed_contract(
        StaffFactory(organisation=cast.organisation, settings=[cast.primary]), cast.supervisor, start=date(2025, 9, 1)
    )
    patch, loaded = _built(Contract)
    with time_machine.travel(moment(nov(3)), tick=False), patch:
        days = reminders.SchoolDays.load(reminders.timezone.now())
        overdue = reminders._find_overdue_agreements(days.today, days)
    assert [item.contract.id for item in overdue] == [behind.id]
    # The agreement with its half-termly session held was set aside on its columns: never built.
    assert loaded == [behind.id]


def test_records_waiting_for_signatures_load_each_person_once(cast, calendar):  # noqa: F811
    for day in (nov(3), nov(4), nov(5)):
        submitted_record(cast, day)
    patch, loaded = _built(StaffMember)
    with time_machine.travel(moment(nov(12)), tick=False), patch:
        days = reminders.SchoolDays.load(reminders.timezone.now())
        waiting = reminders._find_records_awaiting_signatures(days.open)
    assert len(waiting) == 3
    assert {w.signers[0].id for w in waiting} == {cast.supervisee.id}
    # Three records of the same two people: each person built once, not once a record.
    assert sorted(loaded) == sorted([cast.supervisee.id, cast.supervisor.id])


def test_links_are_reversed_once_a_view_and_keep_the_script_prefix():
    first, second = uuid.uuid4(), uuid.uuid4()
    with mock.patch.object(reminders, "reverse", wraps=reminders.reverse) as reverse:
        links = [reminders._link("records:record-detail", code) for code in (first, second, first)]
    assert links == [f"/records/{first}/", f"/records/{second}/", f"/records/{first}/"]
    assert reverse.call_count <= 1
    # Served under a sub-path, the links say so.
    set_script_prefix("/supervision/")
    try:
        assert reminders._link("records:record-detail", first) == f"/supervision/records/{first}/"
        assert reminders._link("records:action-list") == "/supervision/actions/"
    finally:
        set_script_prefix("/")


def test_the_sweep_collects_garbage_less_often_and_puts_the_threshold_back():
    before = gc.get_threshold()
    during = []

    def due_now(now=None):
        during.append(gc.get_threshold())
        return []

    with mock.patch.object(reminders, "due_now", side_effect=due_now):
        assert reminders.sweep() == 0
    assert during == [(reminders.SWEEP_GC_THRESHOLD, *before[1:])]
    assert gc.get_threshold() == before
    failing = mock.patch.object(reminders, "due_now", side_effect=RuntimeError("the database went away"))
    with failing, pytest.raises(RuntimeError):
        reminders.sweep()
    assert gc.get_threshold() == before


def test_a_sweep_reads_the_coming_sessions_and_the_unconfirmed_decisions_once(cast, calendar):  # noqa: F811
    with time_machine.travel(moment(nov(12)), tick=False), CaptureQueriesContext(connection) as queries:
        reminders.sweep()
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    # Rules 1 and 2 share the sessions coming up; rules 9 and 10 the decisions not confirmed.
    assert sum('FROM "supervision_session" ' in sql and "'scheduled'" in sql for sql in selects) == 1
    assert sum('FROM "records_safeguardingdecision" ' in sql for sql in selects) == 1


def test_the_ledger_sizes_its_queries_to_the_backends_limit_on_parameters(cast, contract):  # noqa: F811
    from supervision import notify as ledger

    columns = len(ledger._fields())
    with mock.patch.object(connection.features, "max_query_params", None):
        assert (ledger._size(1, ledger.LOOKUP), ledger._size(columns)) == (10_000, 500)
    with mock.patch.object(connection.features, "max_query_params", 999):
        assert (ledger._size(1, ledger.LOOKUP), ledger._size(columns)) == (500, 999 // columns)
    # Where a query takes two rows, every reminder is still recorded once.
    book(contract, nov(13))
    with time_machine.travel(moment(nov(12)), tick=False):
        due = reminders.due_now()
    assert len(due) >= 3
    with mock.patch.object(connection.features, "max_query_params", 2 * columns):
        assert ledger.notify_many(due) == len(due)
        assert ledger.notify_many(due) == 0
    assert sorted(Notification.objects.values_list("key", flat=True)) == sorted(d.key for d in due)


def _reminders(recipient, count):
    return [
        {
            "recipient": recipient,
            "kind": "decision_unconfirmed",
            "object_type": "decision",
            "object_code": uuid.uuid4(),
            "period": "2025-11-12",
            "title": "A decision waits",
            "body": "Confirm it is on the child's file.",
            "url": "/actions/",
        }
        for _ in range(count)
    ]


def test_a_sweeps_emails_go_to_the_workers_a_hundred_a_message(cast, django_capture_on_commit_callbacks):
    from supervision import notify as ledger

    sent = []
    with (
        mock.patch("supervision.tasks.deliver_notifications.delay", sent.append),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert ledger.notify_many(_reminders(cast.dsl, 250)) == 250
    assert [len(batch) for batch in sent] == [100, 100, 50]
    assert sorted(i for batch in sent for i in batch) == sorted(Notification.objects.values_list("id", flat=True))


def test_a_notification_that_fails_in_a_batch_leaves_the_rest_delivered(cast, caplog):
    from supervision import delivery, tasks

    with mock.patch("supervision.tasks.deliver_notifications.delay"):
        from supervision import notify as ledger

        ledger.notify_many(_reminders(cast.dsl, 3))
    ids = sorted(Notification.objects.values_list("id", flat=True))
    real = delivery.deliver

    def deliver(notification_id):
        if notification_id == ids[1]:
            raise RuntimeError("the database went away")
        return real(notification_id)

    with mock.patch.object(delivery, "deliver", deliver):
        tasks.deliver_notifications(ids)
    emailed = set(Notification.objects.filter(emailed_at__isnull=False).values_list("id", flat=True))
    assert emailed == {ids[0], ids[2]}
    assert f"Delivering notification {ids[1]} failed" in caplog.text
    # The one left is found again by the requeue, in a batch of its own.
    with mock.patch("supervision.tasks.deliver_notifications.delay") as queued:
        assert delivery.requeue_undelivered(min_age=timedelta(0)) == 1
    queued.assert_called_once_with([ids[1]])
