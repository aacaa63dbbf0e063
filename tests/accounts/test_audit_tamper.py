"""The audit trail against an intruder with the application's database access (issue 13): the database
refuses every way of changing or removing an event, and a change made with the owner's rights (triggers
lifted) is found by `audit_verify`, which names the first broken link."""

import io
import threading
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, models, transaction

from accounts import audit_chain
from accounts.audit import audit_event
from accounts.models import AuditChainHead, AuditEvent

POSTGRES = "postgresql" in settings.DATABASES["default"]["ENGINE"]
postgres_only = pytest.mark.skipif(not POSTGRES, reason="needs PostgreSQL (DATABASE_URL)")
TABLE = audit_chain.TABLE


@pytest.fixture
def events(cast):
    return [
        audit_event(action=f"staff.updated.{i}", actor=cast.org_admin.user, obj=cast.supervisee, details={"n": i})
        for i in range(3)
    ]


def refused(attempt) -> None:
    # A savepoint, so the refusal leaves the test's transaction usable (PostgreSQL aborts it otherwise).
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        attempt()


def raw(sql: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@contextmanager
def triggers_lifted():
    """What an intruder with the owner's rights can do: switch the refusal off, change things, switch it on."""
    if connection.vendor == "postgresql":
        # The test's own inserts leave deferred foreign-key checks pending, which ALTER TABLE will not wait for.
        raw("SET CONSTRAINTS ALL IMMEDIATE")
        raw(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
        yield
        raw(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")
    else:
        for sql in audit_chain.trigger_sql(connection.vendor, install=False):
            raw(sql)
        yield
        audit_chain.install_triggers()


def verify(cast) -> tuple[int, audit_chain.Break | None]:
    return audit_chain.verify_chain(cast.organisation.id)


# --- The database refuses (PostgreSQL and SQLite) ---


def test_a_plain_queryset_update_is_refused_by_the_database(events):
    plain = models.QuerySet(AuditEvent).filter(pk=events[0].pk)
    refused(lambda: plain.update(action="staff.created"))
    assert AuditEvent.objects.get(pk=events[0].pk).action == "staff.updated.0"


def test_a_raw_delete_is_refused_by_the_database(events):
    refused(lambda: AuditEvent.objects.filter(pk=events[0].pk)._raw_delete(connection.alias))
    refused(lambda: models.QuerySet(AuditEvent).all().delete())
    assert AuditEvent.objects.filter(pk=events[0].pk).exists()


def test_raw_sql_update_and_delete_are_refused(events):
    refused(lambda: raw(f"UPDATE {TABLE} SET action = 'nothing' WHERE id = %s", [events[1].pk]))
    refused(lambda: raw(f"DELETE FROM {TABLE} WHERE id = %s", [events[1].pk]))
    refused(lambda: raw(f"DELETE FROM {TABLE}"))
    assert AuditEvent.objects.filter(pk=events[1].pk, action="staff.updated.1").exists()


def test_the_database_refuses_with_every_trigger_in_place(db):
    assert audit_chain.missing_triggers() == []


@postgres_only
def test_truncate_is_refused_by_the_database(events):
    raw("SET CONSTRAINTS ALL IMMEDIATE")  # as above: TRUNCATE too refuses to run past pending checks
    refused(lambda: raw(f"TRUNCATE {TABLE}"))
    refused(lambda: raw(f"TRUNCATE {TABLE} CASCADE"))
    assert AuditEvent.objects.count() >= 3


@postgres_only
def test_the_pgtrigger_ignore_switch_is_no_way_round(events):
    # django-pgtrigger's triggers step aside for any session that sets this; ours have no such switch.
    raw("SET LOCAL pgtrigger.ignore = '{audit_append_only_row,audit_append_only_truncate}'")
    refused(lambda: raw(f"UPDATE {TABLE} SET action = 'nothing' WHERE id = %s", [events[0].pk]))


def test_deleting_a_person_or_a_retention_purge_changes_no_event(cast, events):
    before = list(AuditEvent.objects.order_by("id").values_list("id", "hash"))
    cast.supervisee.user.delete()
    assert list(AuditEvent.objects.order_by("id").values_list("id", "hash")) == before
    assert verify(cast)[1] is None


# --- The hash chain ---


def test_each_event_points_to_the_one_before_it(cast, events):
    first, second, third = (AuditEvent.objects.get(pk=e.pk) for e in events)
    assert second.sequence == first.sequence + 1 and third.sequence == second.sequence + 1
    assert (second.prev_hash, third.prev_hash) == (first.hash, second.hash)
    head = AuditChainHead.objects.get(scope=str(cast.organisation.id))
    assert (head.sequence, head.hash) == (third.sequence, third.hash)
    count, problem = verify(cast)
    assert problem is None and count >= 3


def test_organisations_have_chains_of_their_own(cast, events):
    theirs = audit_event(action="staff.updated", actor=cast.outsider.user, obj=cast.outsider_staff)
    assert theirs.sequence == AuditEvent.objects.filter(organisation=cast.other_organisation).count()
    assert theirs.prev_hash != events[-1].hash


def test_a_changed_byte_is_reported_by_audit_verify(cast, events):
    target = events[1]
    with triggers_lifted():
        raw(f"UPDATE {TABLE} SET object_repr = %s WHERE id = %s", ["Sid Supervisez", target.pk])
    count, problem = verify(cast)
    assert problem.event_id == target.pk
    assert "content was changed" in problem.problem

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exit:
        call_command("audit_verify", stdout=out, stderr=err)
    assert exit.value.code == 1
    assert f"BROKEN Cast Trust ({cast.organisation.code})" in err.getvalue()
    assert f"event {target.pk} (staff.updated.1) at " in err.getvalue()
    assert "ok Other Trust" in out.getvalue()


def test_a_change_to_the_details_is_reported(cast, events):
    with triggers_lifted():
        raw(f"UPDATE {TABLE} SET details = %s WHERE id = %s", ['{"n": 7}', events[0].pk])
    assert verify(cast)[1].event_id == events[0].pk


def test_a_removed_event_is_reported_at_the_one_after_it(cast, events):
    with triggers_lifted():
        raw(f"DELETE FROM {TABLE} WHERE id = %s", [events[1].pk])
    problem = verify(cast)[1]
    assert problem.event_id == events[2].pk
    assert "1 event(s) before it are missing" in problem.problem


def test_events_removed_from_the_end_are_reported_at_the_head(cast, events):
    with triggers_lifted():
        raw(f"DELETE FROM {TABLE} WHERE id = %s", [events[2].pk])
    problem = verify(cast)[1]
    assert problem.event_id == events[1].pk
    assert "events at the end are missing" in problem.problem


def test_a_rewritten_event_with_a_recomputed_hash_still_breaks_the_next_link(cast, events):
    target = AuditEvent.objects.filter(pk=events[1].pk).values("id", *audit_chain.HASHED_FIELDS).get()
    target["action"] = "staff.viewed"
    forged = audit_chain.content_hash(target)
    with triggers_lifted():
        raw(f"UPDATE {TABLE} SET action = %s, hash = %s WHERE id = %s", ["staff.viewed", forged, events[1].pk])
    problem = verify(cast)[1]
    assert problem.event_id == events[2].pk
    assert "previous hash differs" in problem.problem


def test_audit_verify_says_so_when_the_triggers_are_gone(cast, events):
    with triggers_lifted():
        out, err = io.StringIO(), io.StringIO()
        with pytest.raises(SystemExit):
            call_command("audit_verify", stdout=out, stderr=err)
    assert "the audit table would accept changes" in err.getvalue()


def test_audit_verify_is_quiet_and_succeeds_on_an_intact_trail(cast, events):
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert f"ok Cast Trust ({cast.organisation.code})" in out.getvalue()


def test_bulk_created_events_are_linked_too(cast):
    made = AuditEvent.objects.bulk_create(
        [AuditEvent(organisation=cast.organisation, action="record.signed") for _ in range(3)]
    )
    assert [e.sequence for e in made] == [made[0].sequence, made[0].sequence + 1, made[0].sequence + 2]
    assert verify(cast)[1] is None


@postgres_only
# Committed rows, so the threads see each other; serialized rollback restores what migrations wrote.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_appends_never_fork_the_chain():
    from accounts.models import Organisation

    organisation = Organisation.objects.create(name="Busy Trust")
    start = threading.Barrier(4)
    errors = []

    def append(n):
        try:
            start.wait()
            for i in range(10):
                with transaction.atomic():
                    audit_event(action=f"test.{n}.{i}", organisation=organisation)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=append, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    sequences = list(
        AuditEvent.objects.filter(organisation=organisation).order_by("sequence").values_list("sequence", flat=True)
    )
    assert sequences == list(range(1, 41))
    assert audit_chain.verify_chain(organisation.id) == (40, None)
