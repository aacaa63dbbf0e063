"""The shared test cast (STYLE.md): two supervisees, two supervisors in two settings, a DSL, a head,
an auditor, an org admin, and an outsider from another organisation.

The cast is built once per test module, inside a transaction that is rolled back when the module ends;
each test runs in a savepoint of it (pytest-django's per-test transaction) and gets its own deep copy of
the Python objects, so nothing a test changes, in the database or in memory, reaches the next one. A
module with a transactional test (a real worker, a live server) builds the cast afresh for each test,
as before: its data must be committed for other processes to see it.
"""

import copy
import os
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from django.db import transaction
from django.test import override_settings

from accounts.models import Organisation, Role, Setting, StaffMember

from .factories import PASSWORD, OrganisationFactory, SettingFactory, StaffFactory

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _flush_past_the_audit_triggers():
    """Transactional tests end by emptying every table, which the audit trail's triggers refuse. The test
    process owns the database, as migrations do: let the flush lift them for its own transaction (as only
    an owner can) and put them back after it."""
    from django.db.backends.base.operations import BaseDatabaseOperations

    from accounts import audit_chain

    original = BaseDatabaseOperations.execute_sql_flush
    if getattr(original, "audit_aware", False):
        return

    def execute_sql_flush(self, sql_list):
        if any(audit_chain.TABLE in sql for sql in sql_list):
            vendor = self.connection.vendor
            if vendor == "postgresql":
                before = [f"ALTER TABLE {audit_chain.TABLE} DISABLE TRIGGER USER"]
                after = [f"ALTER TABLE {audit_chain.TABLE} ENABLE TRIGGER USER"]
            else:
                before = audit_chain.trigger_sql(vendor, install=False)
                after = audit_chain.trigger_sql(vendor)
            sql_list = [*before, *sql_list, *after]
        return original(self, sql_list)

    execute_sql_flush.audit_aware = True
    BaseDatabaseOperations.execute_sql_flush = execute_sql_flush


_flush_past_the_audit_triggers()


# bin/test sets it on PostgreSQL: a database migrated once, which each run's database is copied from.
TEMPLATE_DATABASE = os.environ.get("TEST_DATABASE_TEMPLATE", "")


@pytest.fixture(scope="session")
def django_db_keepdb(request) -> bool:
    """A database copied from the template is kept as made (migrate then finds nothing to do) and
    dropped at the end by `django_db_modify_db_settings` below."""
    return bool(TEMPLATE_DATABASE) or request.config.getvalue("reuse_db")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, django_db_blocker):
    """With a template (bin/test on PostgreSQL), this run's test database (one per xdist worker) is a
    fresh copy of it, made before pytest-django sets the database up; it is dropped when the run ends."""
    from django.db import connection

    if not TEMPLATE_DATABASE or connection.vendor != "postgresql":
        yield
        return
    name = connection.creation._get_test_db_name()
    with django_db_blocker.unblock(), connection._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DATABASE}"')
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        connections.close_all()
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def _fast_and_eager(settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS
    # Through the product's own backend (config/mail.py), so every test's email is as it would be sent.
    settings.EMAIL_BACKEND = "config.mail.AutomatedEmailBackend"
    settings.EMAIL_DELIVERY_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # Without it whitenoise walks STATIC_ROOT each time a test client starts (about 0.1 s a test).
    settings.WHITENOISE_AUTOREFRESH = True
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    from config.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


TRANSACTIONAL_FIXTURES = {
    "transactional_db",
    "live_server",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
}


def is_transactional(item) -> bool:
    """Whether pytest-django runs this test outside a rolled-back transaction."""
    marker = item.get_closest_marker("django_db")
    if marker is not None and any(marker.kwargs.get(k) for k in ("transaction", "reset_sequences")):
        return True
    return bool(TRANSACTIONAL_FIXTURES & set(getattr(item, "fixturenames", ())))


@pytest.fixture(autouse=True)
def _content_types_after_a_flush(request):
    """A transactional test ends by emptying every table; one with `serialized_rollback` does so without
    the post-migrate step that puts content types and permissions back (Django restores them at the start
    of the next serialized test only). A transactional test that finds them gone puts them back first,
    so what it does (granting an object permission, say) does not depend on which test ran before it."""
    if not is_transactional(request.node):
        yield
        return
    request.getfixturevalue("_django_db_helper")
    from django.contrib.auth.models import Permission
    from django.core.management.sql import emit_post_migrate_signal

    if not Permission.objects.exists():
        emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    yield


@contextmanager
def module_transaction(django_db_blocker):
    """A transaction around a whole module's tests, rolled back at its end; each test nests a savepoint in
    it. Yields a context manager for making the module's shared data (database open, test settings)."""

    @contextmanager
    def building():
        with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS):
            yield

    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
    try:
        yield building
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@dataclass
class Cast:
    organisation: Organisation
    primary: Setting
    secondary: Setting
    supervisee: StaffMember  # supervised by supervisor, primary
    supervisee2: StaffMember  # supervised by supervisor2, secondary
    supervisor: StaffMember  # primary
    supervisor2: StaffMember  # secondary
    dsl: StaffMember  # DSL of primary
    head: StaffMember  # head of primary
    auditor: StaffMember  # organisation-wide auditor
    org_admin: StaffMember  # organisation-wide admin
    other_organisation: Organisation
    other_setting: Setting
    outsider: StaffMember  # org admin and supervisor of another organisation
    outsider_staff: StaffMember  # a supervisee in the other organisation

    password = PASSWORD

    def people(self):
        return {
            "supervisee": self.supervisee,
            "supervisee2": self.supervisee2,
            "supervisor": self.supervisor,
            "supervisor2": self.supervisor2,
            "dsl": self.dsl,
            "head": self.head,
            "auditor": self.auditor,
            "org_admin": self.org_admin,
            "outsider": self.outsider,
        }


def build_cast() -> Cast:
    org = OrganisationFactory(name="Cast Trust")
    primary = SettingFactory(organisation=org, name="Cast Primary")
    secondary = SettingFactory(organisation=org, name="Cast Secondary", kind=Setting.Kind.SECONDARY)

    def person(email, name, setting, roles=(), **kwargs):
        return StaffFactory(
            organisation=org,
            user__email=email,
            user__full_name=name,
            settings=[setting],
            roles=list(roles),
            **kwargs,
        )

    head = person("head@cast.example", "Hana Head", primary, [(Role.HEAD, primary), (Role.SUPERVISOR, primary)])
    dsl = person("dsl@cast.example", "Dev Dsl", primary, [(Role.DSL, primary)], supervisor=head)
    supervisor = person(
        "supervisor@cast.example", "Sam Supervisor", primary, [(Role.SUPERVISOR, primary)], supervisor=head
    )
    supervisor2 = person("supervisor2@cast.example", "Sue Supervisor", secondary, [(Role.SUPERVISOR, secondary)])
    supervisee = person("supervisee@cast.example", "Sid Supervisee", primary, supervisor=supervisor)
    supervisee2 = person("supervisee2@cast.example", "Sal Supervisee", secondary, supervisor=supervisor2)
    auditor = person("auditor@cast.example", "Aud Auditor", primary, [(Role.AUDITOR, None)])
    org_admin = person("admin@cast.example", "Ada Admin", primary, [(Role.ORG_ADMIN, None)])

    other = OrganisationFactory(name="Other Trust")
    other_setting = SettingFactory(organisation=other, name="Other School")
    outsider = StaffFactory(
        organisation=other,
        user__email="outsider@other.example",
        user__full_name="Otto Outsider",
        settings=[other_setting],
        roles=[
            (Role.ORG_ADMIN, None),
            (Role.SUPERVISOR, None),
            (Role.HEAD, None),
            (Role.DSL, None),
            (Role.AUDITOR, None),
        ],
    )
    outsider_staff = StaffFactory(
        organisation=other,
        user__email="outsider-staff@other.example",
        user__full_name="Olga Other",
        settings=[other_setting],
        supervisor=outsider,
    )
    return Cast(
        organisation=org,
        primary=primary,
        secondary=secondary,
        supervisee=supervisee,
        supervisee2=supervisee2,
        supervisor=supervisor,
        supervisor2=supervisor2,
        dsl=dsl,
        head=head,
        auditor=auditor,
        org_admin=org_admin,
        other_organisation=other,
        other_setting=other_setting,
        outsider=outsider,
        outsider_staff=outsider_staff,
    )


def _module_items(request):
    return [item for item in request.session.items if getattr(item, "module", None) is request.module]


@pytest.fixture(scope="module", autouse=True)
def _module_cast(request, django_db_blocker):
    """The cast, built once for a module whose tests use it, when none of them is transactional."""
    items = _module_items(request)
    if not any("cast" in item.fixturenames for item in items) or any(is_transactional(item) for item in items):
        yield None
        return
    request.getfixturevalue("django_db_setup")
    with module_transaction(django_db_blocker) as building:
        with building():
            built = build_cast()
        yield built


@pytest.fixture
def cast(_module_cast, db) -> Cast:
    if _module_cast is None:
        return build_cast()
    # A copy of the objects, as Django's setUpTestData gives each test: the rows are rolled back after
    # each test, and so must anything a test sets on the instances.
    return copy.deepcopy(_module_cast)


@pytest.fixture
def login(client):
    """login(staff) signs the test client in as that person."""

    def _login(staff):
        client.force_login(staff.user)
        return client

    return _login


@pytest.fixture(autouse=True)
def _celery_join_flag_restored():
    """Celery keeps "a task is running here, joining would block" in one process-wide flag that each eager
    task sets and puts back; two eager tasks in two threads at once (the concurrency tests) can put back the
    other's value and leave it set, and a later `result.get()` in this process then refuses. Each test
    starts and ends with the flag as it found it."""
    from celery._state import _set_task_join_will_block, task_join_will_block

    before = task_join_will_block()
    yield
    _set_task_join_will_block(before)
