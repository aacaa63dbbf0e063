"""Link the events written before the hash chain existed into their organisations' chains, oldest first
(by id, the order they were written in). Runs before the triggers that refuse updates are installed."""

from django.db import migrations

from accounts import audit_chain

BATCH = 1000


def chain_existing(apps, schema_editor):
    AuditEvent = apps.get_model("accounts", "AuditEvent")
    AuditChainHead = apps.get_model("accounts", "AuditChainHead")
    scopes = AuditEvent.objects.order_by().values_list("organisation_id", flat=True).distinct()
    for organisation_id in list(scopes):
        sequence, previous, last_at = 0, audit_chain.GENESIS, None
        pending = []
        events = AuditEvent.objects.filter(organisation_id=organisation_id).order_by("id")
        for values in events.values("id", *[f for f in audit_chain.HASHED_FIELDS if f not in ("sequence", "prev_hash")]).iterator(chunk_size=BATCH):
            sequence += 1
            values.update(sequence=sequence, prev_hash=previous)
            previous, last_at = audit_chain.content_hash(values), values["created_at"]
            pending.append(AuditEvent(id=values["id"], sequence=sequence, prev_hash=values["prev_hash"], hash=previous))
            if len(pending) >= BATCH:
                AuditEvent.objects.bulk_update(pending, ["sequence", "prev_hash", "hash"])
                pending = []
        if pending:
            AuditEvent.objects.bulk_update(pending, ["sequence", "prev_hash", "hash"])
        AuditChainHead.objects.update_or_create(
            scope=audit_chain.scope_key(organisation_id),
            defaults={"sequence": sequence, "hash": previous, "created_at": last_at},
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_audit_hash_chain")]

    operations = [migrations.RunPython(chain_existing, migrations.RunPython.noop)]
