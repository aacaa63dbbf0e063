"""The notification ledger: record a reminder once, then deliver it.

`notify()` (one) and `notify_many()` (a sweep's worth at once) are the only ways a reminder, an
escalation or a report enters the product. The ledger's unique key (kind, object, recipient, period)
makes a second call for the same thing do nothing, so sweeps can run as often, and as concurrently,
as beat and the workers like.
"""

from collections.abc import Iterable, Mapping

from django.db import IntegrityError, transaction
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


# A look-up by key, or an INSERT, takes at most this many rows: well inside every backend's limit on
# query parameters (SQLite's is lower still for INSERTs: Django cuts those to about 70 rows).
BATCH = 500


def _chunks(items: list, size: int = BATCH):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def notify_many(items: Iterable[Mapping]) -> int:
    """Record many notifications at once: how the reminder sweep enters the ledger.

    Each item holds `notify()`'s keyword arguments. The cost does not grow with the number of items
    (one look-up per 500 keys, one INSERT per batch of new rows) where `notify()` costs three queries
    each. Keys already in the ledger are left alone. The INSERT ignores conflicts on the unique key,
    so a sweep running at the same moment loses and duplicates nothing; only the rows this call wrote
    (found again by the fresh `code` each was given) have their email queued, on commit.
    Returns how many notifications were recorded.
    """
    # Keys first: a Notification is built only for a key not yet in the ledger (in a steady sweep, almost
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
    for chunk in _chunks(keys):
        existing.update(Notification.objects.filter(key__in=chunk).values_list("key", flat=True))
    new = [
        Notification(
            organisation_id=item["recipient"].organisation_id,
            recipient=item["recipient"],
            kind=item["kind"],
            object_type=item["object_type"],
            object_code=str(item["object_code"]),
            period=item["period"],
            key=key,
            title=item["title"],
            body=item["body"],
            url=item["url"],
        )
        for key, item in ((key, items_by_key[key]) for key in keys if key not in existing)
    ]
    if not new:
        return 0
    ids: list[int] = []
    with transaction.atomic():
        Notification.objects.bulk_create(new, batch_size=BATCH, ignore_conflicts=True)
        for chunk in _chunks([n.code for n in new]):
            ids.extend(Notification.objects.filter(code__in=chunk).values_list("id", flat=True))
    from .tasks import deliver_notification

    for notification_id in ids:
        # robust: a broker hiccup loses one message, not the rest; requeue_undelivered finds it again.
        transaction.on_commit(lambda i=notification_id: deliver_notification.delay(i), robust=True)
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
