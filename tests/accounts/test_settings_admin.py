"""Issue 15: settings (schools, nurseries, sites): list, add, rename, kind, school day, address; closing
one keeps it for history (its people and records stay) and takes it out of pickers and planning. Every
change audited with before and after; bad input refused beside its field, changing nothing."""

from datetime import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEvent, Role, Setting
from supervision.services import session_people
from supervision.views.planner import _caseloads
from tests.factories import SettingFactory, StaffFactory
from tests.supervision.helpers import signed_contract

LIST = reverse("accounts:setting-list")
ADD = reverse("accounts:setting-add")


def edit_url(setting):
    return reverse("accounts:setting-edit", kwargs={"code": setting.code})


def close_url(setting):
    return reverse("accounts:setting-close", kwargs={"code": setting.code})


def values(**changes):
    return {"name": "Cast Nursery", "kind": "nursery", "day_starts": "08:00", "day_ends": "18:00", **changes}


def errors_of(response, field):
    return response.context["form"].errors.get(field, [])


# --- List ---------------------------------------------------------------------------------------------


def test_the_list_shows_each_setting_with_its_day_and_people(cast, login):
    response = login(cast.org_admin).get(LIST)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Cast Primary" in page and "Cast Secondary" in page and "Other School" not in page
    assert "08:30 to 16:30" in page
    rows = {s.name: s.people for s in response.context["settings"]}
    assert rows["Cast Primary"] == cast.organisation.staff.filter(settings=cast.primary).count()


def test_the_list_takes_the_same_number_of_queries_for_2_and_12_settings(cast, login):
    client = login(cast.org_admin)

    def count():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(LIST)
        return len(queries), len(response.context["settings"])

    small, small_rows = count()
    for i in range(10):
        setting = SettingFactory(organisation=cast.organisation, name=f"Academy {i}")
        StaffFactory(organisation=cast.organisation, settings=[setting])
    large, large_rows = count()
    assert (small_rows, large_rows) == (2, 12)
    assert small == large


def test_an_organisation_without_settings_is_told_what_to_do(db, login):
    from tests.factories import OrganisationFactory

    organisation = OrganisationFactory(name="New Nursery")
    admin = StaffFactory(organisation=organisation, roles=[(Role.ORG_ADMIN, None)])
    page = login(admin).get(LIST).content.decode()
    assert "No settings yet" in page and ADD in page


# --- Add ----------------------------------------------------------------------------------------------


def test_a_setting_is_added_and_audited(cast, login):
    response = login(cast.org_admin).post(ADD, values(address="2 Nursery Road\nTown"))
    assert response.status_code == 302
    setting = Setting.objects.get(organisation=cast.organisation, name="Cast Nursery")
    assert (setting.kind, setting.day_starts, setting.day_ends) == ("nursery", time(8), time(18))
    assert setting.address == "2 Nursery Road\nTown" and setting.closed_on is None
    event = AuditEvent.objects.get(action="setting.created")
    assert event.object_code == str(setting.code) and event.organisation_id == cast.organisation.id
    assert event.details["after"] == {
        "name": "Cast Nursery", "kind": "nursery", "day_starts": "08:00", "day_ends": "18:00",
        "address": "2 Nursery Road\nTown", "closed_on": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"day_ends": "08:00"}, "day_ends", "The day ends after it starts."),
        ({"day_ends": "07:00"}, "day_ends", "The day ends after it starts."),
        ({"day_starts": "half eight"}, "day_starts", "Enter a valid time."),
        ({"name": "cast primary"}, "name", "already has a setting of that name"),
        ({"name": "   "}, "name", "This field is required."),
        ({"name": "Cast\nNursery"}, "name", "one line"),
        ({"kind": "castle"}, "kind", "Select a valid choice."),
    ],
)
def test_bad_input_is_refused_beside_its_field_and_adds_nothing(cast, login, changes, field, message):
    response = login(cast.org_admin).post(ADD, values(**changes))
    assert response.status_code == 200
    assert any(message in e for e in errors_of(response, field)), response.context["form"].errors
    assert Setting.objects.filter(organisation=cast.organisation).count() == 2
    assert not AuditEvent.objects.filter(action="setting.created").exists()


def test_a_closed_settings_name_is_still_taken_but_another_organisations_is_not(cast, login):
    client = login(cast.org_admin)
    client.post(close_url(cast.secondary))
    assert "already has a setting" in errors_of(client.post(ADD, values(name="Cast Secondary")), "name")[0]
    assert client.post(ADD, values(name="Other School")).status_code == 302


def test_only_an_organisation_wide_admin_adds_a_setting(cast, login):
    setting_admin = StaffFactory(
        organisation=cast.organisation, settings=[cast.primary], roles=[(Role.ORG_ADMIN, cast.primary)]
    )
    assert login(setting_admin).post(ADD, values()).status_code == 403
    assert not Setting.objects.filter(name="Cast Nursery").exists()


# --- Edit ---------------------------------------------------------------------------------------------


def test_a_setting_is_renamed_given_its_day_and_address_and_audited(cast, login):
    client = login(cast.org_admin)
    response = client.post(
        edit_url(cast.primary),
        values(name="Cast Infant School", kind="primary", day_starts="08:45", day_ends="15:15", address="1 Lane"),
    )
    assert response.status_code == 302
    cast.primary.refresh_from_db()
    assert (cast.primary.name, cast.primary.day_starts, cast.primary.day_ends) == (
        "Cast Infant School", time(8, 45), time(15, 15),
    )  # fmt: skip
    event = AuditEvent.objects.get(action="setting.changed")
    assert event.details["changes"] == {
        "name": ["Cast Primary", "Cast Infant School"],
        "day_starts": ["08:30", "08:45"],
        "day_ends": ["16:30", "15:15"],
        "address": ["", "1 Lane"],
    }
    # Saving it unchanged writes nothing more.
    client.post(
        edit_url(cast.primary),
        values(name="Cast Infant School", kind="primary", day_starts="08:45", day_ends="15:15", address="1 Lane"),
    )
    assert AuditEvent.objects.filter(action="setting.changed").count() == 1


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"day_starts": "15:00", "day_ends": "09:00"}, "day_ends", "The day ends after it starts."),
        ({"name": "CAST SECONDARY"}, "name", "already has a setting of that name"),
    ],
)
def test_a_bad_edit_is_refused_and_changes_nothing(cast, login, changes, field, message):
    response = login(cast.org_admin).post(edit_url(cast.primary), values(kind="primary", **changes))
    assert response.status_code == 200
    assert any(message in e for e in errors_of(response, field))
    cast.primary.refresh_from_db()
    assert (cast.primary.name, cast.primary.day_starts) == ("Cast Primary", time(8, 30))
    assert not AuditEvent.objects.filter(action="setting.changed").exists()


def test_an_admin_of_one_setting_edits_that_one_only_and_closes_nothing(cast, login):
    setting_admin = StaffFactory(
        organisation=cast.organisation, settings=[cast.primary], roles=[(Role.ORG_ADMIN, cast.primary)]
    )
    client = login(setting_admin)
    assert client.post(edit_url(cast.primary), values(name="Cast Primary", kind="primary")).status_code == 302
    assert client.get(edit_url(cast.secondary)).status_code == 404
    assert [s.name for s in client.get(LIST).context["settings"]] == ["Cast Primary"]
    assert client.post(close_url(cast.primary)).status_code == 403
    cast.primary.refresh_from_db()
    assert cast.primary.closed_on is None


def test_another_organisations_setting_is_not_found(cast, login):
    client = login(cast.org_admin)
    assert client.get(edit_url(cast.other_setting)).status_code == 404
    assert client.post(edit_url(cast.other_setting), values()).status_code == 404
    assert client.post(close_url(cast.other_setting)).status_code == 404
    cast.other_setting.refresh_from_db()
    assert cast.other_setting.name == "Other School" and cast.other_setting.closed_on is None


# --- Close --------------------------------------------------------------------------------------------


def test_closing_keeps_people_and_history_and_drops_the_setting_from_pickers_and_planning(cast, login):
    client = login(cast.org_admin)
    assert client.post(close_url(cast.secondary)).status_code == 302
    cast.secondary.refresh_from_db()
    assert cast.secondary.closed_on is not None
    event = AuditEvent.objects.get(action="setting.closed")
    assert event.details["changes"] == {"closed_on": [None, cast.secondary.closed_on.isoformat()]}
    assert "Setting closed" in client.get(reverse("accounts:audit-list")).content.decode()
    # Kept: the row, its people, and the list (marked closed).
    assert Setting.objects.filter(pk=cast.secondary.pk).exists()
    assert cast.secondary in cast.supervisee2.settings.all()
    assert "Closed" in client.get(LIST).content.decode()
    # Pickers: adding a person, a group, a closure day; the planner's settings.
    offered = client.get(reverse("accounts:staff-add")).context["form"].fields["settings"].queryset
    assert list(offered) == [cast.primary]
    offered = client.get(reverse("supervision:group-add")).context["form"].fields["setting"].queryset
    assert list(offered) == [cast.primary]
    offered = client.get(reverse("supervision:closure-add")).context["form"].fields["setting"].queryset
    assert list(offered) == [cast.primary]
    # The planner opens on one's own supervisees and widens to the organisation or an open setting.
    assert [label for _, label, _ in _caseloads(cast.org_admin)] == [
        "My supervisees",
        "Everyone in Cast Trust",
        "Cast Primary",
    ]


def test_editing_a_person_of_a_closed_setting_keeps_their_membership(cast, login):
    client = login(cast.org_admin)
    client.post(close_url(cast.secondary))
    page = client.get(reverse("accounts:staff-edit", kwargs={"code": cast.supervisee2.code}))
    data = {k: v for k, v in page.context["form"].initial.items() if v is not None and k != "settings"}
    data.update({"settings": [cast.primary.pk], "start_date": "2020-09-01", "employment_type": "permanent"})
    for day in range(5):
        data[f"day_{day}_works"] = "on"
    data["supervisor"] = cast.supervisor2.pk
    response = client.post(reverse("accounts:staff-edit", kwargs={"code": cast.supervisee2.code}), data)
    assert response.status_code == 302, response.context["form"].errors
    assert set(cast.supervisee2.settings.all()) == {cast.primary, cast.secondary}


def test_a_session_is_placed_in_an_open_setting_before_a_closed_one(cast, login):
    login(cast.org_admin).post(close_url(cast.primary))  # "Cast Primary" sorts before "Cast Secondary"
    person = StaffFactory(organisation=cast.organisation, settings=[cast.primary, cast.secondary])
    contract = signed_contract(person, cast.supervisor2)
    assert session_people(contract=contract)[2] == cast.secondary


def test_the_last_open_setting_cannot_be_closed(cast, login):
    client = login(cast.org_admin)
    client.post(close_url(cast.secondary))
    response = client.post(close_url(cast.primary), follow=True)
    assert "only open setting" in response.content.decode()
    cast.primary.refresh_from_db()
    assert cast.primary.closed_on is None
    assert AuditEvent.objects.filter(action="setting.closed").count() == 1


def test_a_closed_setting_is_reopened_and_audited(cast, login):
    client = login(cast.org_admin)
    client.post(close_url(cast.secondary))
    closed_on = Setting.objects.get(pk=cast.secondary.pk).closed_on
    assert client.post(close_url(cast.secondary), {"reopen": "1"}).status_code == 302
    assert Setting.objects.get(pk=cast.secondary.pk).closed_on is None
    event = AuditEvent.objects.get(action="setting.reopened")
    assert event.details["changes"] == {"closed_on": [closed_on.isoformat(), None]}
