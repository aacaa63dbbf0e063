"""The audit trail is append-only."""

import pytest
from django.db import transaction
from django.db.models import ProtectedError

from accounts.audit import audit_event
from accounts.models import AuditEvent


@pytest.fixture
def event(cast):
    return audit_event(action="staff.updated", actor=cast.org_admin.user, obj=cast.supervisee, details={"a": 1})


def test_an_event_records_who_what_which_object_and_where(cast, event, rf):
    request = rf.get("/", REMOTE_ADDR="192.0.2.7", HTTP_USER_AGENT="Firefox")
    event = audit_event(action="staff.invited", actor=cast.org_admin.user, obj=cast.supervisee, request=request)
    event.refresh_from_db()
    assert event.organisation == cast.organisation
    assert event.actor == cast.org_admin.user
    assert event.actor_name == "Ada Admin"
    assert (event.object_type, event.object_code, event.object_repr) == (
        "staffmember",
        str(cast.supervisee.code),
        "Sid Supervisee",
    )
    assert (event.ip_address, event.user_agent) == ("192.0.2.7", "Firefox")


def test_an_event_cannot_be_changed(event):
    event.action = "staff.created"
    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).update(action="staff.created")
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.update(details={})
    # bulk_update raises inside its own atomic block: a savepoint keeps the test's transaction usable.
    with pytest.raises(TypeError, match="append-only"), transaction.atomic():
        AuditEvent.objects.bulk_update([event], ["action"])
    assert AuditEvent.objects.get(pk=event.pk).action == "staff.updated"


def test_an_event_cannot_be_deleted(event):
    with pytest.raises(TypeError, match="append-only"):
        event.delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_deleting_an_organisation_with_events_is_refused(cast, event):
    with pytest.raises(ProtectedError):
        cast.organisation.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_events_outlive_the_person_who_acted(cast, event):
    # Nothing cascades to the trail (the database refuses updates): the event keeps the deleted account's
    # id, unchanged, and says who it was by name.
    user_id = cast.org_admin.user.pk
    cast.org_admin.user.delete()
    event.refresh_from_db()
    assert event.actor_id == user_id
    assert AuditEvent.objects.select_related("actor").get(pk=event.pk).actor is None
    assert event.actor_name == "Ada Admin"
