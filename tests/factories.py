"""factory_boy factories for the shared test cast and for volume tests."""

from datetime import date

import factory

from accounts.models import EmploymentType, Organisation, Role, RoleAssignment, Setting, StaffMember, User, WorkingDay

PASSWORD = "correct-horse-battery"


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Test Trust {n}")
    # Off for the shared cast, so every other test signs its privileged people in without an authenticator
    # app; tests/accounts/test_second_factor.py turns it on and tests the rule (docs/decisions.md).
    require_second_factor = False


class SettingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Setting

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"Test School {n}")
    kind = Setting.Kind.PRIMARY


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@test.example")
    full_name = factory.Faker("name", locale="en_GB")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffMember
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    job_title = "Teacher"
    employment_type = EmploymentType.PERMANENT
    start_date = date(2020, 9, 1)

    @factory.post_generation
    def settings(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.settings.set(extracted)

    @factory.post_generation
    def days(obj, create, extracted, **kwargs):
        if create:
            for weekday in extracted if extracted is not None else range(5):
                WorkingDay.objects.create(staff=obj, weekday=weekday)

    @factory.post_generation
    def roles(obj, create, extracted, **kwargs):
        """roles=[(Role.HEAD, setting_or_None), ...]"""
        if create and extracted:
            for role, setting in extracted:
                RoleAssignment.objects.create(staff=obj, role=role, setting=setting)


__all__ = ["PASSWORD", "OrganisationFactory", "SettingFactory", "UserFactory", "StaffFactory", "Role"]
