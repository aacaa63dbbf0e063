"""The shared test cast (STYLE.md): two supervisees, two supervisors in two settings, a DSL, a head,
an auditor, an org admin, and an outsider from another organisation."""

from dataclasses import dataclass

import pytest

from accounts.models import Organisation, Role, Setting, StaffMember

from .factories import PASSWORD, OrganisationFactory, SettingFactory, StaffFactory


@pytest.fixture(autouse=True)
def _fast_and_eager(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
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


@pytest.fixture
def cast(db) -> Cast:
    return build_cast()


@pytest.fixture
def login(client):
    """login(staff) signs the test client in as that person."""

    def _login(staff):
        client.force_login(staff.user)
        return client

    return _login
