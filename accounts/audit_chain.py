"""The audit trail's hash chain, and the database's refusal to change it.

Each event stores the hash of the previous event of its organisation (`prev_hash`) and the SHA-256 of
its own canonical content, previous hash included (`hash`), numbered by `sequence` within the chain. An
edited, removed or reordered event breaks every link after it, so `verify_chain` finds the first broken
one. Appending locks the chain's head row (`AuditChainHead`) for the rest of the writing transaction, so
two transactions never both extend the same head: the cost is that audit writes of one organisation
wait for each other's commit.

Events without an organisation (installation-level sign-in failures and the like) form one more chain,
the installation's.

The database itself refuses UPDATE, DELETE and TRUNCATE on the events table (`TRIGGER_SQL`), on
PostgreSQL and SQLite alike. The triggers have no bypass switch a session could set (django-pgtrigger's
`pgtrigger.ignore` is one, and any role may set it): only the table's owner can disable them, and the
application's role in production is not the owner.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction

TABLE = "accounts_auditevent"
GENESIS = "0" * 64
# The fields a hash covers, in this order. Adding a field to AuditEvent does not change old hashes.
HASHED_FIELDS = (
    "organisation_id",
    "sequence",
    "prev_hash",
    "created_at",
    "actor_id",
    "actor_name",
    "action",
    "object_type",
    "object_code",
    "object_repr",
    "ip_address",
    "user_agent",
    "details",
)

PG_TRIGGERS = ("audit_append_only_row", "audit_append_only_truncate")
SQLITE_TRIGGERS = ("audit_append_only_update", "audit_append_only_delete")

_PG_INSTALL = [
    """
    CREATE OR REPLACE FUNCTION audit_trail_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'The audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
    END
    $$
    """,
    f"DROP TRIGGER IF EXISTS audit_append_only_row ON {TABLE}",
    f"""CREATE TRIGGER audit_append_only_row BEFORE UPDATE OR DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION audit_trail_refuse()""",
    f"DROP TRIGGER IF EXISTS audit_append_only_truncate ON {TABLE}",
    f"""CREATE TRIGGER audit_append_only_truncate BEFORE TRUNCATE ON {TABLE}
        FOR EACH STATEMENT EXECUTE FUNCTION audit_trail_refuse()""",
]
_PG_UNINSTALL = [
    f"DROP TRIGGER IF EXISTS audit_append_only_row ON {TABLE}",
    f"DROP TRIGGER IF EXISTS audit_append_only_truncate ON {TABLE}",
    "DROP FUNCTION IF EXISTS audit_trail_refuse()",
]
# SQLite has no TRUNCATE; a DELETE without WHERE fires the delete trigger (triggers switch off its
# truncate optimisation).
_SQLITE_INSTALL = [
    f"""CREATE TRIGGER IF NOT EXISTS audit_append_only_update BEFORE UPDATE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'The audit trail is append-only: UPDATE refused'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS audit_append_only_delete BEFORE DELETE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'The audit trail is append-only: DELETE refused'); END""",
]
_SQLITE_UNINSTALL = [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS]


def trigger_sql(vendor: str, *, install: bool = True) -> list[str]:
    if vendor == "postgresql":
        return _PG_INSTALL if install else _PG_UNINSTALL
    if vendor == "sqlite":
        return _SQLITE_INSTALL if install else _SQLITE_UNINSTALL
    return []


def install_triggers(conn=connection) -> None:
    """Idempotent. Also run after every migrate: SQLite rebuilds a table to alter it, losing its triggers."""
    with conn.cursor() as cursor:
        for sql in trigger_sql(conn.vendor):
            cursor.execute(sql)


def missing_triggers(conn=connection) -> list[str]:
    """The refusing triggers that are absent or disabled: the database would accept a change."""
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND tgenabled <> 'D'", [TABLE])
            present = {row[0] for row in cursor.fetchall()}
            return [name for name in PG_TRIGGERS if name not in present]
        if conn.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [TABLE])
            present = {row[0] for row in cursor.fetchall()}
            return [name for name in SQLITE_TRIGGERS if name not in present]
    return []


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(values: dict) -> bytes:
    """Stable JSON of an event's hashed fields, as the database returns them."""
    content = {name: values[name] for name in HASHED_FIELDS}
    content["created_at"] = _timestamp(content["created_at"])
    content["ip_address"] = content["ip_address"] or None
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(values: dict) -> str:
    return hashlib.sha256(canonical(values)).hexdigest()


def scope_key(organisation_id: int | None) -> str:
    return str(organisation_id) if organisation_id else "installation"


def link(event) -> None:
    """Fill in `sequence`, `prev_hash` and `hash` of a new event and move its chain's head.

    Call inside a transaction that then inserts the event: the head row stays locked until it commits.
    """
    link_many([event])


def link_many(events) -> None:
    """`link` for many new events at once, in their order: each chain's head is locked and moved once, so
    a bulk insert of thousands of events (an import) costs two queries a chain, not three an event."""
    from .models import AuditChainHead

    assert transaction.get_connection().in_atomic_block
    by_scope: dict[str, list] = {}
    for event in events:
        by_scope.setdefault(scope_key(event.organisation_id), []).append(event)
    for scope in sorted(by_scope):  # the same lock order everywhere: no deadlock between two writers
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(scope=scope)
        for event in by_scope[scope]:
            # What the database will hand back, so the hash can be recomputed from a stored row.
            event.details = json.loads(json.dumps(event.details or {}))
            event.sequence = head.sequence + 1
            event.prev_hash = head.hash
            event.hash = content_hash({name: getattr(event, name) for name in HASHED_FIELDS})
            head.sequence, head.hash, head.created_at = event.sequence, event.hash, event.created_at
        head.save(update_fields=["sequence", "hash", "created_at"])


@dataclass
class Break:
    """The first broken link of a chain."""

    scope: str
    event_id: int | None
    action: str
    created_at: datetime | None
    problem: str

    def __str__(self):
        when = f" at {_timestamp(self.created_at)}" if self.created_at else ""
        which = f"event {self.event_id} ({self.action}){when}" if self.event_id else "chain head"
        return f"{which}: {self.problem}"


def verify_chain(organisation_id: int | None) -> tuple[int, Break | None]:
    """Walk one chain in order; return how many events were checked and the first broken link, if any.

    Reads in chunks (the trail of a large trust is millions of rows), never the whole chain at once.
    """
    from .models import AuditChainHead, AuditEvent

    scope = scope_key(organisation_id)
    events = AuditEvent.objects.filter(organisation_id=organisation_id).order_by("sequence", "id")
    expected_sequence, previous = 1, GENESIS
    count, last = 0, None
    for values in events.values("id", *HASHED_FIELDS, "hash").iterator(chunk_size=2000):
        count += 1
        last = values

        def broken(problem: str, values=values) -> Break:
            return Break(scope, values["id"], values["action"], values["created_at"], problem)

        if values["sequence"] != expected_sequence:
            missing = values["sequence"] - expected_sequence
            if missing > 0:
                return count, broken(f"{missing} event(s) before it are missing (expected number {expected_sequence})")
            return count, broken(f"its number {values['sequence']} repeats or is out of order")
        if values["prev_hash"] != previous:
            return count, broken("it does not point to the event before it (previous hash differs)")
        if content_hash(values) != values["hash"]:
            return count, broken("its content was changed after it was written (hash differs)")
        expected_sequence, previous = expected_sequence + 1, values["hash"]

    head = AuditChainHead.objects.filter(scope=scope).first()
    head_sequence, head_hash = (head.sequence, head.hash) if head else (0, GENESIS)
    if (head_sequence, head_hash) != (expected_sequence - 1, previous):
        where = f"the last event is number {expected_sequence - 1}" if last else "there are no events"
        return count, Break(
            scope,
            last["id"] if last else None,
            last["action"] if last else "",
            last["created_at"] if last else None,
            f"the chain head says {head_sequence} events ending in {head_hash[:12]}…, but {where}: "
            "events at the end are missing or the head was changed",
        )
    return count, None


def verify_all(organisations, *, installation: bool = True):
    """Yield (name, events checked, first break or None) for each organisation, then the installation."""
    for organisation in organisations:
        count, problem = verify_chain(organisation.id)
        yield f"{organisation.name} ({organisation.code})", count, problem
    if installation:
        count, problem = verify_chain(None)
        yield "installation (events without an organisation)", count, problem
