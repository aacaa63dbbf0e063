from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.module_loading import autodiscover_modules


def _restore_audit_triggers(sender, using, **kwargs):
    """SQLite alters a table by rebuilding it, which drops its triggers: put the audit trail's back."""
    from django.db import connections

    from . import audit_chain

    connection = connections[using]
    if connection.vendor == "sqlite" and audit_chain.TABLE in connection.introspection.table_names():
        audit_chain.install_triggers(connection)


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "People and organisations"

    def ready(self):
        post_migrate.connect(_restore_audit_triggers, sender=self)
        # Each app's named person searches (accounts/pickers.py): `<app>/pickers.py`.
        autodiscover_modules("pickers")
