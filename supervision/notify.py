"""The notification ledger: record a reminder once, then deliver it.

`notify()` (one) and `notify_many()` (a sweep's worth at once) are the only ways a reminder, an
escalation or a report enters the product. The ledger's unique key (kind, object, recipient, period)
makes a second call for the same thing do nothing, so sweeps can run as often, and as concurrently,
as beat and the workers like.
"""

import uuid
from collections.abc import Iterable, Mapping

from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, CharField, ForeignKey, TextField
from django.utils import timezone

from accounts.models import StaffMember

from .models import Notification, NotificationKind


def notify(
    *,
    recipient: StaffMember,
    kind: str,
    object_type: str,
    object_code,
    period: str,
    title: str,
    body: str,
    url: str,
) -> Notification | None:
    """Add the notification to the ledger unless it is there already; queue its email on commit.

    Returns the new notification, or None when this (kind, object, recipient, period) was recorded before.
    """
    key = Notification.make_key(kind, object_type, object_code, recipient.id, period)
    try:
        # A savepoint, so a duplicate does not spoil the caller's transaction.
        with transaction.atomic():
            notification = Notification.objects.create(
                organisation_id=recipient.organisation_id,
                recipient=recipient,
                kind=kind,
                object_type=object_type,
                object_code=str(object_code),
                period=period,
                key=key,
                title=title,
                body=body,
                url=url,
            )
    except IntegrityError:
        return None
    from .tasks import deliver_notification

    notification_id = notification.id
    transaction.on_commit(lambda: deliver_notification.delay(notification_id))
    return notification


# An INSERT takes at most this many rows, and a look-up by key this many keys where the backend limits a
# query's parameters (SQLite), fewer if the limit asks (an INSERT of 15 columns takes 66 rows in 999).
# Without a limit (PostgreSQL) a look-up takes up to LOOKUP keys: a sweep's are found in one round trip.
BATCH = 500
LOOKUP = 10_000
# Notifications a delivery task emails in turn (`deliver_notifications`): a sweep's thousands go to the
# workers as a message per hundred.
DELIVERY_BATCH = 100


def _chunks(items: list, size: int = BATCH):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _fields() -> list:
    return [f for f in Notification._meta.concrete_fields if not f.primary_key]


def _size(per_item: int, unlimited: int = BATCH) -> int:
    """How many items (of `per_item` parameters each) one query takes on this backend."""
    limit = connection.features.max_query_params
    return unlimited if limit is None else max(1, min(BATCH, limit // per_item))


def _insert_new(rows: list[dict]) -> list[int]:
    """INSERT the rows, skipping any whose key is in the ledger by now (a sweep running at the same moment
    wrote it): one statement, which returns the ids of the rows it wrote.

    Written out because `bulk_create(ignore_conflicts=True)` cannot say which rows it wrote (finding them
    again by `code` costs a look-up per 500 rows), and builds a model instance and prepares every value
    through its field: about 0.2 ms a row, 2.5 s for the 12,500 reminders of a large trust's first sweep.
    """
    fields = _fields()
    # Strings, integers and booleans go as they are; the other values through their field.
    prepared = [f for f in fields if not isinstance(f, (CharField, TextField, BooleanField, ForeignKey))]
    values = []
    for row in rows:
        row = {f.attname: row[f.attname] if f.attname in row else f.get_default() for f in fields}
        for f in prepared:
            if row[f.attname] is not None:
                row[f.attname] = f.get_db_prep_save(row[f.attname], connection)
        values.extend(row[f.attname] for f in fields)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * len(rows))
    # Only the model's quoted names are formatted in; every value is a parameter.
    sql = (
        f"INSERT INTO {quote(Notification._meta.db_table)} ({columns}) VALUES {placeholders} "  # noqa: S608
        f"ON CONFLICT DO NOTHING RETURNING {quote(Notification._meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return [row[0] for row in cursor.fetchall()]


def notify_many(items: Iterable[Mapping]) -> int:
    """Record many notifications at once: how the reminder sweep enters the ledger.

    Each item holds `notify()`'s keyword arguments. The cost does not grow with the number of items
    (one look-up per 10,000 keys, one INSERT per 500 new rows; more where SQLite limits a query's
    parameters) where `notify()` costs three queries each. Keys already in the ledger are left alone.
    The INSERT ignores conflicts on the unique key, so a sweep running at the same moment loses and
    duplicates nothing; only the rows this call wrote (the INSERT returns their ids) have their email
    queued, on commit.
    Returns how many notifications were recorded.
    """
    # Keys first: a row is built only for a key not yet in the ledger (in a steady sweep, almost
    # none of the thousands due), not for every item.
    items_by_key: dict[str, Mapping] = {}
    for item in items:
        key = Notification.make_key(
            item["kind"], item["object_type"], item["object_code"], item["recipient"].id, item["period"]
        )
        items_by_key.setdefault(key, item)
    # One order for every sweep: concurrent INSERTs then wait for each other, never deadlock.
    keys = sorted(items_by_key)
    existing = set()
    for chunk in _chunks(keys, _size(1, LOOKUP)):
        existing.update(Notification.objects.filter(key__in=chunk).values_list("key", flat=True))
    now = timezone.now()
    new = [
        {
            "code": uuid.uuid4(),
            "organisation_id": item["recipient"].organisation_id,
            "recipient_id": item["recipient"].id,
            "kind": item["kind"],
            "object_type": item["object_type"],
            "object_code": str(item["object_code"]),
            "period": item["period"],
            "key": key,
            "title": item["title"],
            "body": item["body"],
            "url": item["url"],
            "created_at": now,
        }
        for key, item in ((key, items_by_key[key]) for key in keys if key not in existing)
    ]
    if not new:
        return 0
    ids: list[int] = []
    with transaction.atomic():
        for chunk in _chunks(new, _size(len(_fields()))):
            ids.extend(_insert_new(chunk))
    from .tasks import deliver_notifications

    # A message per DELIVERY_BATCH emails, not one each: a first sweep at 12,000 staff queued 12,600
    # messages, seconds of publishing at the end of the sweep. robust: a broker hiccup loses one
    # batch's message, not the rest; requeue_undelivered finds its notifications again.
    for chunk in _chunks(ids, DELIVERY_BATCH):
        transaction.on_commit(lambda chunk=chunk: deliver_notifications.delay(chunk), robust=True)
    return len(ids)


def notifications_done(
    *, object_type: str, object_code, kinds: Iterable[str], recipient: StaffMember | None = None
) -> int:
    """The task these notifications are about is done (a record signed, an action marked done...): mark
    them read, the recipient's only (`recipient`) or everyone's, so nothing stays unread that asks for what
    has happened. Called by the service that does the task, inside its transaction. One UPDATE.
    Returns how many were unread."""
    unread = Notification.objects.filter(
        object_type=object_type, object_code=str(object_code), kind__in=list(kinds), read_at__isnull=True
    )
    if recipient is not None:
        unread = unread.filter(recipient=recipient)
    return unread.update(read_at=timezone.now())


# Which notifications each finished task answers (DESIGN section 7's rows).
SIGNATURE_KINDS = (NotificationKind.SIGNATURE_PENDING, NotificationKind.SIGNATURE_ESCALATION)
ACTION_KINDS = (NotificationKind.ACTION_DUE, NotificationKind.ACTION_OVERDUE)
DECISION_KINDS = (NotificationKind.DECISION_UNCONFIRMED, NotificationKind.DECISION_ESCALATION)
OVERDUE_KINDS = (NotificationKind.SESSION_OVERDUE, NotificationKind.SESSION_OVERDUE_ESCALATION)
REVIEW_KINDS = (NotificationKind.CONTRACT_REVIEW_DUE, NotificationKind.CONTRACT_REVIEW_OVERDUE)
