"""The database refuses UPDATE, DELETE and TRUNCATE on the audit trail (PostgreSQL and SQLite triggers,
accounts/audit_chain.py), and two events never take the same place in a chain.

On PostgreSQL the UPDATE, DELETE and TRUNCATE privileges on the table are also revoked from every role
but its owner (the one running migrations): the application's role keeps SELECT and INSERT.
"""

from django.db import migrations, models

from accounts import audit_chain

REVOKE_FROM_OTHERS = f"""
DO $$
DECLARE grantee_name text;
BEGIN
    FOR grantee_name IN
        SELECT DISTINCT grantee FROM information_schema.role_table_grants
        WHERE table_name = '{audit_chain.TABLE}' AND grantee <> current_user
          AND privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON {audit_chain.TABLE} FROM %I', grantee_name);
    END LOOP;
END
$$
"""


def install(apps, schema_editor):
    statements = audit_chain.trigger_sql(schema_editor.connection.vendor)
    if schema_editor.connection.vendor == "postgresql":
        statements = [*statements, REVOKE_FROM_OTHERS]
    for sql in statements:
        schema_editor.execute(sql, params=None)


def uninstall(apps, schema_editor):
    for sql in audit_chain.trigger_sql(schema_editor.connection.vendor, install=False):
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_chain_existing_audit_events")]

    operations = [
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(fields=("organisation", "sequence"), name="audit_chain_position_unique"),
        ),
        migrations.RunPython(install, uninstall),
    ]
