"""The daily check of the audit trail tells the organisation admins when the chain breaks, and /audit/
shows the chain head to write down (issue 13)."""

from django.core import mail
from django.db import connection
from django_celery_beat.models import PeriodicTask

from accounts import audit_chain
from accounts.audit import audit_event
from accounts.models import AuditChainHead
from supervision.audit_watch import check_audit_trail
from supervision.models import Notification, NotificationKind
from supervision.tasks import check_audit_trail as check_task


def _tamper(event):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {audit_chain.TABLE} DISABLE TRIGGER USER")
        else:
            for sql in audit_chain.trigger_sql(connection.vendor, install=False):
                cursor.execute(sql)
        cursor.execute(f"UPDATE {audit_chain.TABLE} SET actor_name = 'Nobody' WHERE id = %s", [event.pk])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {audit_chain.TABLE} ENABLE TRIGGER USER")
    else:
        audit_chain.install_triggers()


def test_an_intact_trail_tells_nobody(cast):
    audit_event(action="staff.updated", actor=cast.org_admin.user, obj=cast.supervisee)
    assert check_task() == 0
    assert not Notification.objects.filter(kind=NotificationKind.AUDIT_CHAIN_BROKEN).exists()


def test_a_broken_chain_tells_the_organisation_admins_once(cast, django_capture_on_commit_callbacks):
    event = audit_event(action="staff.updated", actor=cast.org_admin.user, obj=cast.supervisee)
    audit_event(action="staff.updated", actor=cast.org_admin.user, obj=cast.supervisee)
    _tamper(event)
    with django_capture_on_commit_callbacks(execute=True):
        failures = check_audit_trail()
    assert len(failures) == 1 and failures[0].startswith("Cast Trust:")
    notices = Notification.objects.filter(kind=NotificationKind.AUDIT_CHAIN_BROKEN)
    assert [n.recipient for n in notices] == [cast.org_admin]
    notice = notices.get()
    assert f"event {event.pk} (staff.updated)" in notice.body
    assert "content was changed" in notice.body
    assert notice.url == "/audit/"
    assert any(m.to == [cast.org_admin.user.email] and "audit trail" in m.subject.lower() for m in mail.outbox)
    # The same break found again the next day is not news; the ledger keeps it to one notice.
    check_audit_trail()
    assert notices.count() == 1


def test_the_check_is_scheduled_daily(db):
    task = PeriodicTask.objects.get(task="supervision.check_audit_trail")
    assert (task.crontab.hour, task.crontab.minute) == ("3", "40")


def test_the_audit_page_shows_the_chain_head(cast, login):
    audit_event(action="staff.updated", actor=cast.org_admin.user, obj=cast.supervisee)
    response = login(cast.org_admin).get("/audit/")
    head = AuditChainHead.objects.get(scope=str(cast.organisation.id))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Chain head" in html and head.hash in html
    assert f"Event {head.sequence}, written " in html
    other = AuditChainHead.objects.filter(scope=str(cast.other_organisation.id)).first()
    assert other is None or other.hash not in html
