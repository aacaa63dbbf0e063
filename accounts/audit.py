"""Writing the audit trail. Services call `audit_event` inside their transaction."""

import ipaddress

from django.db import models

from .models import AuditEvent


def client_address(request) -> str | None:
    if request is None:
        return None
    address = request.META.get("REMOTE_ADDR") or None
    try:
        # In the form the database hands back, so the event's hash can be recomputed from the stored row.
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


def audit_event(
    *,
    action: str,
    actor=None,
    obj: models.Model | None = None,
    organisation=None,
    request=None,
    details: dict | None = None,
) -> AuditEvent:
    """Append one event. `obj` gives the object's type, public code and name."""
    if organisation is None and obj is not None:
        organisation = getattr(obj, "organisation", None)
    if organisation is None and actor is not None:
        staff = getattr(actor, "staff", None) if actor.pk else None
        organisation = staff.organisation if staff else None
    return AuditEvent.objects.create(
        organisation=organisation,
        actor=actor if actor is not None and actor.pk else None,
        actor_name=(actor.full_name or actor.email) if actor is not None and actor.pk else "",
        action=action,
        object_type=obj._meta.model_name if obj is not None else "",
        object_code=str(getattr(obj, "code", obj.pk)) if obj is not None else "",
        object_repr=str(obj)[:255] if obj is not None else "",
        ip_address=client_address(request),
        user_agent=(request.META.get("HTTP_USER_AGENT", "")[:255] if request is not None else ""),
        details=details or {},
    )


def audit_events_bulk(*, action: str, actor=None, organisation, request=None, items) -> int:
    """Append one event per (obj, details) in `items`, a thousand rows an INSERT: for imports, where
    one `audit_event` per person would be a query per row. Returns how many were written."""
    actor = actor if actor is not None and actor.pk else None
    common = {
        "organisation": organisation,
        "actor": actor,
        "actor_name": (actor.full_name or actor.email) if actor is not None else "",
        "action": action,
        "ip_address": client_address(request),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:255] if request is not None else "",
    }
    events = [
        AuditEvent(
            **common,
            object_type=obj._meta.model_name,
            object_code=str(getattr(obj, "code", obj.pk)),
            object_repr=str(obj)[:255],
            details=details or {},
        )
        for obj, details in items
    ]
    AuditEvent.objects.bulk_create(events, batch_size=1000)
    return len(events)
