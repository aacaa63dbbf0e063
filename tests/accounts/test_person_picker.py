"""People pickers (issue 14): a form lists its people when they are few, and otherwise shows the chosen
ones and a search (`accounts:person-search`) that never finds anyone the form would not accept.

The cast's organisation has eight people; `PICKER_LIMIT` is lowered to make it "large" where a test needs
the search."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import pickers
from accounts.models import Role, StaffMember
from records.models import ExportJob
from supervision.models import Contract, SupervisionGroup
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def large(monkeypatch):
    """Every form of the cast's organisation offers more people than it lists."""
    monkeypatch.setattr(pickers, "PICKER_LIMIT", 3)


def search(client, picker, q="", **params):
    return client.get(reverse("accounts:person-search", kwargs={"picker": picker}), {"q": q, **params})


def names(response) -> str:
    return response.content.decode()


# Few people: the form as it always was.


def test_a_small_organisation_lists_everyone_in_the_form(cast, login):
    page = login(cast.org_admin).get(reverse("supervision:contract-add")).content.decode()
    assert 'type="search"' not in page
    assert f'<option value="{cast.supervisee2.pk}"' in page
    assert f'<option value="{cast.supervisor2.pk}"' in page


# Many people: the chosen ones and a search.


def test_a_large_organisation_shows_only_the_chosen_people_and_a_search(cast, login, large):
    client = login(cast.org_admin)
    page = client.get(reverse("supervision:contract-add"), {"supervisee": cast.supervisee.code}).content.decode()
    assert page.count('type="search"') == 1  # the organisation's three supervisors are still listed
    assert 'hx-get="/people/search/agreement-supervisee/"' in page
    assert f'name="supervisee" value="{cast.supervisee.pk}" id="id_supervisee_{cast.supervisee.pk}" checked' in page
    assert "Sal Supervisee" not in page and "Dev Dsl" not in page
    page = client.get(reverse("supervision:group-add")).content.decode()
    assert page.count('type="search"') == 2
    assert f'type="radio" name="supervisor" value="{cast.org_admin.pk}"' in page
    assert "Sid Supervisee" not in page


def test_the_search_finds_by_name_or_email_and_keeps_the_chosen_ones(cast, login, large):
    client = login(cast.head)
    found = names(search(client, "group-members", "supervis", members=[cast.dsl.pk]))
    assert f'value="{cast.dsl.pk}" id="id_members_{cast.dsl.pk}" checked' in found  # kept, ticked
    assert "Sam Supervisor" in found and "Sid Supervisee" in found
    assert "3 people match" not in found and "2 people match “supervis”." in found
    by_email = names(search(client, "group-members", "SUPERVISOR@cast"))
    assert "Sam Supervisor" in by_email and "1 person matches" in by_email


def test_the_search_never_finds_people_the_form_would_refuse(cast, login, large):
    # The head leads the primary school only: the secondary school's people and the other organisation's
    # are outside every form of theirs, whatever is typed or sent back as chosen.
    client = login(cast.head)
    for picker in ("agreement-supervisee", "group-members", "group-supervisor", "note-supervisee"):
        field = pickers.PICKERS[picker].field
        found = names(search(client, picker, "S", **{field: [cast.supervisee2.pk, cast.outsider_staff.pk]}))
        assert "Sid Supervisee" in found, picker
        for stranger in (cast.supervisee2, cast.supervisor2, cast.outsider_staff, cast.outsider):
            assert f'value="{stranger.pk}"' not in found, (picker, stranger)
            assert stranger.full_name not in found, (picker, stranger)
        outsider = names(search(client, picker, "Olga", **{field: cast.outsider_staff.pk}))
        assert f'value="{cast.outsider_staff.pk}"' not in outsider and "Nobody matches" in outsider, picker
    # The organisation admin's searches stay in their own organisation.
    admin = login(cast.org_admin)
    for picker in ("staff-supervisor", "subject-access", "agreement-supervisor", "agreement-supervisee"):
        for text in ("O", "other.example"):
            found = names(search(admin, picker, text))
            assert "Olga Other" not in found and "Otto Outsider" not in found, picker
            assert str(cast.outsider_staff.code) not in found and f'value="{cast.outsider_staff.pk}"' not in found


def test_every_search_lists_exactly_the_people_its_form_accepts(cast, login, large):
    """Typing "@" matches every address: the search's people are the form's queryset, person for person."""
    from records.forms_exports import SubjectAccessForm
    from supervision.access import group_people, group_settings, supervisees_in_reach, supervisors_in_organisation

    def found(client, picker):
        content = names(search(client, picker, "@cast.example"))
        return {p.pk for p in StaffMember.objects.filter(organisation=cast.organisation) if p.full_name in content}

    for person in (cast.head, cast.supervisor, cast.org_admin):
        client = login(person)
        assert found(client, "agreement-supervisee") == set(supervisees_in_reach(person).values_list("pk", flat=True))
        assert found(client, "agreement-supervisor") == set(
            supervisors_in_organisation(person).values_list("pk", flat=True)
        )
        assert found(client, "group-members") == set(
            group_people(person, group_settings(person)).values_list("pk", flat=True)
        )
    admin = login(cast.org_admin)
    subjects = SubjectAccessForm(admin=cast.org_admin).fields["subject"].queryset
    assert found(admin, "subject-access") == set(subjects.values_list("pk", flat=True))


def test_the_search_refuses_whom_the_form_refuses(cast, login):
    assert search(login(cast.supervisee), "agreement-supervisee", "S").status_code == 403
    assert search(login(cast.supervisee), "group-members", "S").status_code == 403
    assert search(login(cast.supervisor), "staff-supervisor", "S").status_code == 403
    assert search(login(cast.head), "subject-access", "S").status_code == 403
    assert search(login(cast.auditor), "note-supervisee", "S").status_code == 403
    assert search(login(cast.org_admin), "no-such-search", "S").status_code == 404


def test_a_supervisor_without_the_role_still_changes_their_running_agreement(cast, login, large):
    """The page lets an agreement's supervisor change it (`_contract_action`): the search answers them too."""
    from supervision import services

    services.contract_create(
        actor=cast.supervisor, supervisee=cast.supervisee, supervisor=cast.supervisor, start_date=timezone.localdate()
    )
    cast.supervisor.role_assignments.filter(role=Role.SUPERVISOR).delete()
    assert search(login(cast.supervisor), "agreement-supervisor", "Sue").status_code == 200
    assert search(login(cast.supervisor), "agreement-supervisee", "Sue").status_code == 403


def test_hostile_searches_are_answered_calmly(cast, login, large):
    client = login(cast.org_admin)
    huge = search(client, "staff-supervisor", "Sam" + "x" * 10_000)
    assert huge.status_code == 200 and "Nobody matches" in names(huge)
    control = search(client, "staff-supervisor", "Sam\x00")
    assert control.status_code == 200 and "Type letters" in names(control)
    odd = search(client, "staff-supervisor", "Sam", supervisor=["x", "99999999999999999999999", "-1", ""])
    assert odd.status_code == 200 and "Sam Supervisor" in names(odd)
    assert "checked" not in names(odd)
    codes = search(client, "subject-access", "Sam", subject=["not-a-uuid", "123"], exclude=["nope"])
    assert codes.status_code == 200 and "Sam Supervisor" in names(codes)
    assert "<script" not in names(search(client, "staff-supervisor", "<script>alert(1)</script>"))


def test_the_person_being_edited_is_left_out_of_their_own_supervisor_search(cast, login, large):
    client = login(cast.org_admin)
    page = client.get(reverse("accounts:staff-edit", kwargs={"code": cast.supervisor.code})).content.decode()
    assert f"/people/search/staff-supervisor/?exclude={cast.supervisor.code}" in page
    found = names(search(client, "staff-supervisor", "Sam", exclude=str(cast.supervisor.code)))
    assert "Sam Supervisor" not in found


# What is posted is checked against the whole of the form's people.


def test_a_group_member_from_elsewhere_is_refused_and_nothing_is_saved(cast, login, large):
    client = login(cast.head)
    data = {
        "name": "Early years",
        "setting": cast.primary.pk,
        "supervisor": cast.head.pk,
        "members": [cast.supervisee.pk, cast.supervisee2.pk],  # the secondary school's: not the head's
        "confidentiality_boundaries": "Stays in the room.",
    }
    response = client.post(reverse("supervision:group-add"), data)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert 'id="div_id_members"' in response.content.decode()
    data["members"] = [cast.supervisee.pk, cast.outsider_staff.pk]  # another organisation's
    assert "Select a valid choice" in client.post(reverse("supervision:group-add"), data).content.decode()
    assert not SupervisionGroup.objects.filter(name="Early years").exists()
    data["members"] = [cast.supervisee.pk, cast.supervisor.pk]
    assert client.post(reverse("supervision:group-add"), data).status_code == 302
    assert set(SupervisionGroup.objects.get(name="Early years").members.all()) == {cast.supervisee, cast.supervisor}


def test_an_agreement_for_someone_outside_reach_is_refused(cast, login, large):
    client = login(cast.supervisor)
    data = {
        "supervisee": cast.supervisee2.pk,  # supervised by someone else, in the other school
        "supervisor": cast.supervisor.pk,
        "frequency": "half_termly",
        "session_minutes": 30,
        "start_date": timezone.localdate().isoformat(),
        "confidentiality_terms": "Confidential.",
    }
    response = client.post(reverse("supervision:contract-add"), data)
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    data["supervisee"] = cast.outsider_staff.pk
    assert "Select a valid choice" in client.post(reverse("supervision:contract-add"), data).content.decode()
    assert not Contract.objects.filter(supervisor=cast.supervisor).exists()


def test_a_subject_access_export_for_another_organisation_is_refused(cast, login, large):
    client = login(cast.org_admin)
    data = {"kind": "subject_access", "subject": str(cast.outsider_staff.code)}
    page = client.post(reverse("records:export-list"), data).content.decode()
    assert "Choose someone you manage." in page
    assert not ExportJob.objects.exists()


# Queries: the same at two sizes.


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def _more_staff(cast, count):
    for _ in range(count):
        StaffFactory(organisation=cast.organisation, settings=[cast.primary, cast.secondary])


@pytest.mark.parametrize(
    "url",
    [
        reverse("supervision:contract-add"),
        reverse("supervision:group-add"),
        reverse("supervision:note-add"),
        reverse("accounts:staff-add"),
        reverse("records:export-list"),
        reverse("accounts:person-search", kwargs={"picker": "group-members"}) + "?q=e",
    ],
)
def test_the_pickers_cost_the_same_queries_at_two_sizes(cast, login, large, url):
    client = login(cast.org_admin)
    _more_staff(cast, 2)
    client.get(url)  # the first visit makes what the organisation keeps (its agreement wording)
    small = _queries(client, url)
    _more_staff(cast, 30)
    assert _queries(client, url) == small


def test_change_supervisor_costs_the_same_queries_at_two_sizes(cast, login, large):
    from supervision import services

    contract = services.contract_create(
        actor=cast.supervisor, supervisee=cast.supervisee, supervisor=cast.supervisor, start_date=timezone.localdate()
    )
    client = login(cast.org_admin)
    url = reverse("supervision:contract-change-supervisor", kwargs={"code": contract.code})
    for _ in range(2):
        StaffFactory(organisation=cast.organisation, settings=[cast.primary], roles=[(Role.SUPERVISOR, None)])
    small = _queries(client, url)
    for _ in range(30):
        StaffFactory(organisation=cast.organisation, settings=[cast.primary], roles=[(Role.SUPERVISOR, None)])
    assert _queries(client, url) == small
    page = client.get(url).content.decode()
    assert f"exclude={cast.supervisor.code}" in page and f"exclude={cast.supervisee.code}" in page


def test_a_leaver_is_not_offered(cast, login, large):
    StaffMember.objects.filter(pk=cast.supervisor2.pk).update(leaving_date=timezone.localdate() - timedelta(days=1))
    assert "Sue Supervisor" not in names(search(login(cast.org_admin), "agreement-supervisor", "Sue"))
