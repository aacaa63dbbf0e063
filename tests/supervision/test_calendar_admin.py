"""The calendar pages: half terms and closure days, their changes, and the CSV import."""

from datetime import date
from pathlib import Path

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from accounts.models import AuditEvent, Role
from supervision import services
from supervision.models import AcademicYear, ClosureDay, HalfTerm, Term
from tests.factories import SettingFactory, StaffFactory

pytestmark = pytest.mark.django_db

TERMS = reverse("supervision:terms")
IMPORT = reverse("supervision:terms-import")
CLOSURE_ADD = reverse("supervision:closure-add")
SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "calendar-import-sample.csv"


@pytest.fixture(autouse=True)
def today():
    """Sunday 22 November 2026: Autumn 2 of 2026/27."""
    with time_machine.travel("2026-11-22 10:00 +0000", tick=False):
        yield


@pytest.fixture
def calendar(cast):
    """The default 2026/27 for the cast's organisation."""
    return services.calendar_generate_default(organisation=cast.organisation, start_year=2026)


def half_term(organisation, term, half, year="2026/27") -> HalfTerm:
    return HalfTerm.objects.get(organisation=organisation, academic_year__name=year, term=term, half=half)


def edit_url(half):
    return reverse("supervision:half-term-edit", kwargs={"code": half.code})


def delete_url(closure):
    return reverse("supervision:closure-delete", kwargs={"code": closure.code})


def events(action):
    return list(AuditEvent.objects.filter(action=action))


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def setting_admin(cast):
    """An organisation admin of the primary school only."""
    return StaffFactory(organisation=cast.organisation, settings=[cast.primary], roles=[(Role.ORG_ADMIN, cast.primary)])


# --- The calendar page ---------------------------------------------------------------------------


def test_an_admin_sees_every_year_with_its_half_terms_closures_and_buttons(cast, login, calendar):
    services.calendar_generate_default(organisation=cast.organisation, start_year=2025)
    response = login(cast.org_admin).get(TERMS)
    assert response.status_code == 200
    html = response.content.decode()
    assert [e["year"].name for e in response.context["calendar"]] == ["2025/26", "2026/27"]
    entry = response.context["calendar"][1]
    assert [(h.label, h.school_days) for h in entry["half_terms"]] == [
        ("Autumn 1", 38),
        ("Autumn 2", 35),
        ("Spring 1", 30),
        ("Spring 2", 24),
        ("Summer 1", 34),  # Mon 12 Apr to Fri 28 May 2027, less May Day (3 May)
        ("Summer 2", 34),
    ]
    assert [h.is_now for h in entry["half_terms"]] == [False, True, False, False, False, False]
    assert "Wed 2 Sep 2026" in html and "Fri 23 Oct 2026" in html and "Thu 25 Mar 2027" in html
    assert "Good Friday" in html and "Every setting" in html
    assert "Add the default calendar for 2027/28" in html
    assert "Import from CSV" in html and "Add an INSET day" in html
    assert edit_url(half_term(cast.organisation, Term.AUTUMN, 1)) in html


@pytest.mark.parametrize("person", ["head", "dsl"])
def test_heads_and_dsls_see_the_calendar_without_buttons(cast, login, calendar, person):
    response = login(getattr(cast, person)).get(TERMS)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Autumn 1" in html and "Wed 2 Sep 2026" in html
    for button in ("Add the default calendar", "Import from CSV", "Add an INSET day", "/calendar/closures/"):
        assert button not in html
    assert edit_url(half_term(cast.organisation, Term.AUTUMN, 1)) not in html


@pytest.mark.parametrize("person", ["supervisor", "supervisee", "auditor"])
def test_other_roles_are_refused_the_calendar(cast, login, calendar, person):
    assert login(getattr(cast, person)).get(TERMS).status_code == 403


def test_signing_in_is_needed(client, calendar):
    response = client.get(TERMS)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_another_organisations_admin_sees_only_their_own_calendar(cast, login, calendar):
    response = login(cast.outsider).get(TERMS)
    assert response.status_code == 200
    assert response.context["calendar"] == []
    assert "No school calendar yet" in response.content.decode()


def test_the_empty_calendar_offers_this_year_and_next(cast, login):
    client = login(cast.org_admin)
    html = client.get(TERMS).content.decode()
    assert "No school calendar yet" in html and "Add the default calendar for 2026/27 and 2027/28" in html
    response = client.post(TERMS, {"action": "defaults"})
    assert response.status_code == 302
    assert list(AcademicYear.objects.filter(organisation=cast.organisation).values_list("name", flat=True)) == [
        "2026/27",
        "2027/28",
    ]
    assert {e.actor for e in events("calendar.year_generated")} == {cast.org_admin.user}
    assert "2026/27 and 2027/28" in messages_of(response)[0]
    # Heads only read: the empty state says who sets it up.
    AcademicYear.objects.all().delete()
    html = login(cast.head).get(TERMS).content.decode()
    assert "Your organisation admin has not set up the calendar yet" in html and 'value="defaults"' not in html


def test_adding_the_default_for_the_next_year(cast, login, calendar):
    client = login(cast.org_admin)
    response = client.post(TERMS, {"action": "generate", "start_year": 2027})
    assert response.status_code == 302
    year = AcademicYear.objects.get(organisation=cast.organisation, name="2027/28")
    assert year.half_terms.count() == 6
    assert ClosureDay.objects.filter(organisation=cast.organisation, date=date(2028, 5, 1)).exists()  # May Day
    assert "The default calendar for 2027/28 is added" in messages_of(response)[0]
    event = AuditEvent.objects.get(action="calendar.year_generated", details__academic_year="2027/28")
    assert event.actor == cast.org_admin.user
    # Again: nothing new.
    response = client.post(TERMS, {"action": "generate", "start_year": 2027})
    assert AcademicYear.objects.filter(organisation=cast.organisation).count() == 2
    assert "2027/28 is already in the calendar." in messages_of(response)
    # Nonsense adds nothing.
    response = client.post(TERMS, {"action": "generate", "start_year": 1990})
    assert response.status_code == 302 and "within ten years" in messages_of(response)[-1]
    response = client.post(TERMS, {})
    assert response.status_code == 302 and messages_of(response)[-1] == "Choose what to add to the calendar."
    assert AcademicYear.objects.filter(organisation=cast.organisation).count() == 2


@pytest.mark.parametrize("person", ["head", "dsl", "supervisor"])
def test_only_admins_add_years(cast, login, calendar, person):
    assert login(getattr(cast, person)).post(TERMS, {"action": "generate", "start_year": 2027}).status_code == 403
    assert AcademicYear.objects.count() == 1


def test_a_setting_admin_reads_the_half_terms_and_manages_their_closures(cast, login, calendar):
    admin = setting_admin(cast)
    mine = ClosureDay.objects.create(organisation=cast.organisation, setting=cast.primary, date=date(2027, 1, 4))
    theirs = ClosureDay.objects.create(organisation=cast.organisation, setting=cast.secondary, date=date(2027, 1, 5))
    client = login(admin)
    response = client.get(TERMS)
    html = response.content.decode()
    assert "Add an INSET day" in html and "Import from CSV" not in html and "Add the default calendar" not in html
    assert delete_url(mine) in html and delete_url(theirs) not in html
    assert client.post(TERMS, {"action": "generate", "start_year": 2027}).status_code == 403


def test_choosing_a_setting_counts_its_own_closure_days(cast, login, calendar):
    ClosureDay.objects.create(
        organisation=cast.organisation, setting=cast.primary, date=date(2026, 11, 16), name="Primary INSET"
    )
    client = login(cast.org_admin)
    every = client.get(TERMS).context["calendar"][0]
    primary = client.get(TERMS, {"setting": cast.primary.pk}).context["calendar"][0]
    secondary = client.get(TERMS, {"setting": cast.secondary.pk}).context["calendar"][0]
    # Autumn 2: the primary's INSET day counts for the primary only.
    assert [e["half_terms"][1].school_days for e in (every, primary, secondary)] == [35, 34, 35]
    assert "Primary INSET" in [c.name for c in primary["closures"]]
    assert "Primary INSET" not in [c.name for c in secondary["closures"]]


def test_the_calendar_page_costs_the_same_queries_for_one_year_or_four(cast, login, calendar):
    client = login(cast.org_admin)
    client.get(TERMS)
    with CaptureQueriesContext(connection) as one_year:
        client.get(TERMS)
    for start_year in (2023, 2024, 2025):
        services.calendar_generate_default(organisation=cast.organisation, start_year=start_year)
    with CaptureQueriesContext(connection) as four_years:
        response = client.get(TERMS)
    assert len(response.context["calendar"]) == 4
    assert len(four_years) == len(one_year)


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_the_calendar_page_refuses_other_methods(cast, login, calendar, method):
    assert getattr(login(cast.org_admin), method)(TERMS).status_code == 405


# --- Changing a half term ------------------------------------------------------------------------


def test_an_admin_moves_a_half_term(cast, login, calendar):
    autumn1 = half_term(cast.organisation, Term.AUTUMN, 1)
    client = login(cast.org_admin)
    response = client.get(edit_url(autumn1))
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        "Autumn 1 2026/27" in html and 'value="2026-09-02"' in html and "Autumn 2 2026/27 starts Mon 2 Nov 2026" in html
    )
    response = client.post(edit_url(autumn1), {"starts": "2026-09-01", "ends": "2026-10-16"})
    assert response.status_code == 302 and response["Location"] == TERMS
    autumn1.refresh_from_db()
    assert (autumn1.starts, autumn1.ends) == (date(2026, 9, 1), date(2026, 10, 16))
    assert autumn1.academic_year.starts == date(2026, 9, 1)  # the year follows its first half term
    [event] = events("calendar.half_term_changed")
    assert event.actor == cast.org_admin.user and event.object_code == str(autumn1.code)
    assert event.details["from"] == ["2026-09-02", "2026-10-23"]
    assert event.details["to"] == ["2026-09-01", "2026-10-16"]
    assert messages_of(response) == ["Autumn 1 2026/27 now runs from Tue 1 Sep 2026 to Fri 16 Oct 2026."]
    # The same dates again: nothing to record.
    client.post(edit_url(autumn1), {"starts": "2026-09-01", "ends": "2026-10-16"})
    assert len(events("calendar.half_term_changed")) == 1


def test_moving_summer_2_into_the_summer_holidays_adds_the_bank_holiday(cast, login, calendar):
    summer2 = half_term(cast.organisation, Term.SUMMER, 2)
    response = login(cast.org_admin).post(edit_url(summer2), {"starts": "2027-06-21", "ends": "2027-08-31"})
    assert response.status_code == 302
    assert ClosureDay.objects.filter(
        organisation=cast.organisation, date=date(2027, 8, 30), kind=ClosureDay.Kind.BANK_HOLIDAY
    ).exists()


@pytest.mark.parametrize(
    "term,half,data,field,message",
    [
        (Term.AUTUMN, 1, {"starts": "2026-10-23", "ends": "2026-09-02"}, "ends", "ends after the day it starts"),
        (
            Term.AUTUMN,
            1,
            {"starts": "2026-09-02", "ends": "2026-11-06"},
            "ends",
            "Autumn 2 2026/27 starts on Mon 2 Nov",
        ),
        (
            Term.AUTUMN,
            2,
            {"starts": "2026-10-19", "ends": "2026-12-18"},
            "starts",
            "Autumn 1 2026/27 ends on Fri 23 Oct",
        ),
        (Term.AUTUMN, 1, {"starts": "2026-09-02", "ends": "2026-10-17"}, "ends", "Sat 17 Oct 2026 is a Saturday"),
        (Term.AUTUMN, 1, {"starts": "2025-09-03", "ends": "2025-10-24"}, "starts", "outside the academic year 2026/27"),
        (Term.SUMMER, 2, {"starts": "2027-06-07", "ends": "2027-09-03"}, "ends", "outside the academic year 2026/27"),
        (Term.SPRING, 1, {"starts": "2027-01-04", "ends": "2027-03-26"}, "ends", "at most eleven weeks"),
        (Term.SPRING, 1, {"starts": "4th January", "ends": "2027-02-12"}, "starts", "Enter a valid date."),
    ],
    ids=[
        "ends-before-starts",
        "overlaps-next",
        "overlaps-previous",
        "weekend",
        "wrong-year",
        "past-august",
        "too-long",
        "not-a-date",
    ],  # fmt: skip
)
def test_a_half_term_change_that_breaks_the_calendar_is_refused(
    cast, login, calendar, term, half, data, field, message
):
    target = half_term(cast.organisation, term, half)
    before = (target.starts, target.ends)
    response = login(cast.org_admin).post(edit_url(target), data)
    assert response.status_code == 200
    errors = response.context["form"].errors[field]
    assert any(message in e for e in errors), errors
    assert message.split(" is a")[0] in response.content.decode()
    target.refresh_from_db()
    assert (target.starts, target.ends) == before
    assert events("calendar.half_term_changed") == []


def test_neighbours_across_academic_years_are_respected(cast, login, calendar):
    services.calendar_generate_default(organisation=cast.organisation, start_year=2027)
    summer2 = half_term(cast.organisation, Term.SUMMER, 2)
    response = login(cast.org_admin).post(edit_url(summer2), {"starts": "2027-06-21", "ends": "2027-09-01"})
    assert "Autumn 1 2027/28 starts on Wed 1 Sep 2027" in str(response.context["form"].errors["ends"])
    autumn1 = half_term(cast.organisation, Term.AUTUMN, 1, year="2027/28")
    response = login(cast.org_admin).post(edit_url(autumn1), {"starts": "2027-07-22", "ends": "2027-10-22"})
    assert "Summer 2 2026/27 ends on Thu 22 Jul 2027" in str(response.context["form"].errors["starts"])


def test_half_term_edit_access(cast, login, calendar):
    autumn1 = half_term(cast.organisation, Term.AUTUMN, 1)
    for person in ("supervisor", "supervisee", "head", "dsl", "auditor"):
        assert login(getattr(cast, person)).get(edit_url(autumn1)).status_code == 403, person
    # Another organisation's admin does not find it.
    assert login(cast.outsider).get(edit_url(autumn1)).status_code == 404
    assert (
        login(cast.outsider).post(edit_url(autumn1), {"starts": "2026-09-01", "ends": "2026-10-16"}).status_code == 404
    )
    # Half terms are the same for every setting: an admin of one setting cannot move them.
    assert login(setting_admin(cast)).get(edit_url(autumn1)).status_code == 403
    assert login(cast.org_admin).put(edit_url(autumn1)).status_code == 405
    autumn1.refresh_from_db()
    assert autumn1.starts == date(2026, 9, 2)


# --- Closure days --------------------------------------------------------------------------------


def test_an_admin_adds_an_inset_day(cast, login, calendar):
    client = login(cast.org_admin)
    response = client.get(CLOSURE_ADD)
    assert response.status_code == 200
    assert list(response.context["form"].fields["setting"].queryset) == [cast.primary, cast.secondary]
    response = client.post(CLOSURE_ADD, {"date": "2027-01-04", "kind": "inset", "name": "", "setting": ""})
    assert response.status_code == 302
    closure = ClosureDay.objects.get(organisation=cast.organisation, date=date(2027, 1, 4))
    assert (closure.kind, closure.setting, closure.name) == (ClosureDay.Kind.INSET, None, "")
    [event] = events("calendar.closure_added")
    assert event.actor == cast.org_admin.user and event.details["setting"] is None
    # One setting only.
    client.post(
        CLOSURE_ADD, {"date": "2027-01-05", "kind": "other", "name": "Boiler repair", "setting": cast.primary.pk}
    )
    closure = ClosureDay.objects.get(date=date(2027, 1, 5))
    assert (closure.kind, closure.setting, closure.name) == (ClosureDay.Kind.OTHER, cast.primary, "Boiler repair")
    # The planner's school days count it for the primary only.
    html = client.get(TERMS, {"setting": cast.primary.pk}).content.decode()
    assert "Boiler repair" in html


@pytest.mark.parametrize(
    "data,message",
    [
        ({"date": "2027-01-09"}, "Sat 9 Jan 2027 is a Saturday"),
        ({"date": "2027-05-03"}, "Every setting is already closed on Mon 3 May 2027 (May Day)"),
        ({"date": "2027-01-06", "setting": "primary"}, "Cast Primary is already closed on Wed 6 Jan 2027"),
        ({"date": "2027-01-07", "setting": "primary"}, "Every setting is already closed on Thu 7 Jan 2027"),
        ({"date": "not a day"}, "Enter a valid date."),
    ],
    ids=["weekend", "bank-holiday", "same-setting", "already-everywhere", "not-a-date"],
)
def test_weekends_and_days_already_closed_are_refused(cast, login, calendar, data, message):
    ClosureDay.objects.create(organisation=cast.organisation, setting=cast.primary, date=date(2027, 1, 6))
    ClosureDay.objects.create(organisation=cast.organisation, date=date(2027, 1, 7), name="INSET day")
    count = ClosureDay.objects.count()
    post = {"kind": "inset", "name": "", "setting": "", **data}
    if post["setting"] == "primary":
        post["setting"] = cast.primary.pk
    response = login(cast.org_admin).post(CLOSURE_ADD, post)
    assert response.status_code == 200
    assert any(message in e for e in response.context["form"].errors["date"])
    assert message in response.content.decode()
    assert ClosureDay.objects.count() == count and events("calendar.closure_added") == []


def test_another_organisations_setting_is_not_a_choice(cast, login, calendar):
    data = {"date": "2027-01-04", "kind": "inset", "setting": cast.other_setting.pk}
    response = login(cast.org_admin).post(CLOSURE_ADD, data)
    assert response.status_code == 200 and "setting" in response.context["form"].errors
    assert not ClosureDay.objects.filter(date=date(2027, 1, 4)).exists()


def test_a_setting_admin_closes_only_their_settings(cast, login, calendar):
    client = login(setting_admin(cast))
    form = client.get(CLOSURE_ADD).context["form"]
    assert list(form.fields["setting"].queryset) == [cast.primary] and form.fields["setting"].required
    response = client.post(CLOSURE_ADD, {"date": "2027-01-04", "kind": "inset", "setting": ""})
    assert response.status_code == 200 and "setting" in response.context["form"].errors
    response = client.post(CLOSURE_ADD, {"date": "2027-01-04", "kind": "inset", "setting": cast.secondary.pk})
    assert response.status_code == 200
    response = client.post(CLOSURE_ADD, {"date": "2027-01-04", "kind": "inset", "setting": cast.primary.pk})
    assert response.status_code == 302
    assert ClosureDay.objects.get(date=date(2027, 1, 4)).setting == cast.primary


def test_closure_add_access(cast, login, calendar):
    for person in ("supervisor", "supervisee", "head", "dsl", "auditor"):
        assert login(getattr(cast, person)).get(CLOSURE_ADD).status_code == 403, person
    assert login(cast.org_admin).put(CLOSURE_ADD).status_code == 405


def test_an_admin_removes_a_closure_day(cast, login, calendar):
    closure = ClosureDay.objects.create(organisation=cast.organisation, date=date(2027, 1, 4), name="INSET day")
    client = login(cast.org_admin)
    assert client.get(delete_url(closure)).status_code == 405
    response = client.post(delete_url(closure))
    assert response.status_code == 302 and response["Location"] == TERMS
    assert not ClosureDay.objects.filter(pk=closure.pk).exists()
    [event] = events("calendar.closure_deleted")
    assert event.actor == cast.org_admin.user and event.object_code == str(closure.code)
    assert event.details["date"] == "2027-01-04"
    assert client.post(delete_url(closure)).status_code == 404


def test_closure_delete_access(cast, login, calendar):
    everywhere = ClosureDay.objects.create(organisation=cast.organisation, date=date(2027, 1, 4))
    secondary = ClosureDay.objects.create(organisation=cast.organisation, setting=cast.secondary, date=date(2027, 1, 5))
    primary = ClosureDay.objects.create(organisation=cast.organisation, setting=cast.primary, date=date(2027, 1, 6))
    for person in ("supervisor", "supervisee", "head", "dsl", "auditor"):
        assert login(getattr(cast, person)).post(delete_url(everywhere)).status_code == 403, person
    assert login(cast.outsider).post(delete_url(everywhere)).status_code == 404
    admin = login(setting_admin(cast))
    assert admin.post(delete_url(everywhere)).status_code == 403
    assert admin.post(delete_url(secondary)).status_code == 403
    assert admin.post(delete_url(primary)).status_code == 302
    assert set(ClosureDay.objects.filter(date__lt=date(2027, 1, 7), date__gt=date(2027, 1, 3))) == {
        everywhere,
        secondary,
    }


# --- The CSV import ------------------------------------------------------------------------------


def upload(client, text, **extra):
    return client.post(IMPORT, {"file": SimpleUploadedFile("calendar.csv", text.encode()), **extra})


def confirm(client, response):
    return client.post(IMPORT, {"token": response.context["form"]["token"].value(), "confirm": "1"})


def state(organisation):
    return (
        sorted(AcademicYear.objects.filter(organisation=organisation).values_list("name", "starts", "ends")),
        sorted(HalfTerm.objects.filter(organisation=organisation).values_list("code", "starts", "ends")),
        sorted(ClosureDay.objects.filter(organisation=organisation).values_list("code", "date", "setting", "kind")),
    )


@pytest.fixture
def demo_settings(cast):
    """Settings named as in docs/calendar-import-sample.csv."""
    return [
        SettingFactory(organisation=cast.organisation, name="Riverside Primary School"),
        SettingFactory(organisation=cast.organisation, name="Little Otters Nursery"),
    ]


BAD_FILE = """Academic Year,Term,Half,Starts,Ends,Setting,Name,Colour
2027/28,Autumn,1,2027-09-02,2027-10-22,,,
2027/28,Autumn,3,2027-11-01,2027-12-17,,,
2027/28,Winter,1,04/01/2028,11/02/2028,,,
2027/28,Spring,2,2028-02-21,31/02/2028,,,
2027/28,Summer,1,2028-04-22,2028-05-26,,,
2027/28,Summer,2,2028-06-05,2028-05-26,Cast Primary,,
2027/28,INSET,,2027-09-04,2027-09-05,Nowhere,,
2027-29,Autumn,2,2027-11-01,2027-12-17,,,
2027/28,Spring,2,2028-02-21,2028-03-31,,,
2028/29,INSET,,2028-09-01,2028-09-01,,,
2026/27,Summer,2,2027-06-21,2027-09-03,,,
"""


def test_a_bad_file_lists_every_problem_by_row_and_column_and_saves_nothing(cast, login, calendar):
    before = state(cast.organisation)
    client = login(cast.org_admin)
    response = upload(client, BAD_FILE)
    assert response.status_code == 200
    problems = [(p.row, p.column, p.message) for p in response.context["result"].problems]
    where = [(row, column) for row, column, _ in problems]
    assert where == [
        (1, "Colour"),  # unknown column
        (2, "term"),  # 2027/28 is new and misses half terms (those on bad rows do not count)
        (3, "half"),  # half 3
        (4, "term"),  # Winter
        (5, "ends"),  # 31/02/2028 is not a date
        (6, "starts"),  # Saturday 22 April 2028
        (7, "ends"),  # ends before it starts
        (7, "setting"),  # half terms are the same for every setting
        (8, "starts"),  # a weekend only
        (8, "setting"),  # no such setting
        (9, "academic year"),  # 2027-29
        (10, "half"),  # Spring 2 twice
        (11, "academic year"),  # 2028/29 is nowhere
        (12, "ends"),  # past 31 August 2027
    ]
    messages = {(row, column): message for row, column, message in problems}
    assert "Autumn 2, Spring 1 missing" in messages[(2, "term")]
    assert messages[(6, "starts")] == "Sat 22 Apr 2028 is a Saturday: a half term starts and ends on a weekday."
    assert messages[(10, "half")] == "Spring 2 2027/28 is also on row 5."
    html = response.content.decode()
    assert "Nothing was imported: 14 problems to fix" in html
    for _row, _column, message in problems:
        assert escape(message) in html
    # Confirming a bad file does not save it either.
    response = upload(client, BAD_FILE, confirm="1")
    assert response.status_code == 200 and response.context["result"].problems
    assert state(cast.organisation) == before
    assert events("calendar.imported") == []


@pytest.mark.parametrize(
    "text,expected",
    [
        ("\ufeff", [(1, "(header)")]),
        ("academic year,term,starts\n2027/28,Autumn,2027-09-02\n", [(1, "half"), (1, "ends")]),
        (
            "academic year,term,half,starts,ends\n2026/27,Autumn,2,2026-10-19,2026-12-18\n",
            [(2, "starts")],  # overlaps Autumn 1, already in the calendar
        ),
        (
            "academic year,term,half,starts,ends\n2026/27,INSET,,2026-11-16,2026-11-27\n",
            [(2, "ends")],  # ten INSET days in one row
        ),
    ],
    ids=["empty", "missing-columns", "overlaps-the-calendar", "too-many-inset-days"],
)
def test_more_bad_files(cast, login, calendar, text, expected):
    before = state(cast.organisation)
    response = upload(login(cast.org_admin), text)
    assert [(p.row, p.column) for p in response.context["result"].problems] == expected
    assert state(cast.organisation) == before


def test_the_sample_file_imports_and_importing_it_again_changes_nothing(cast, login, calendar, demo_settings):
    primary, nursery = demo_settings
    client = login(cast.org_admin)
    text = SAMPLE.read_text()
    response = upload(client, text)
    result = response.context["result"]
    assert result.ok and result.new_years == ["2027/28"]
    assert response.context["counts"] == {"new": 9, "update": 0, "unchanged": 0}
    assert "Every row is valid" in response.content.decode()
    assert AcademicYear.objects.filter(name="2027/28").count() == 0  # a preview only

    response = confirm(client, response)
    assert response.status_code == 302 and response["Location"] == TERMS
    year = AcademicYear.objects.get(organisation=cast.organisation, name="2027/28")
    assert (year.starts, year.ends) == (date(2027, 9, 2), date(2028, 7, 21))
    assert list(year.half_terms.order_by("starts").values_list("term", "half", "starts", "ends")) == [
        (Term.AUTUMN, 1, date(2027, 9, 2), date(2027, 10, 22)),
        (Term.AUTUMN, 2, date(2027, 11, 1), date(2027, 12, 17)),
        (Term.SPRING, 1, date(2028, 1, 4), date(2028, 2, 11)),
        (Term.SPRING, 2, date(2028, 2, 21), date(2028, 3, 31)),
        (Term.SUMMER, 1, date(2028, 4, 18), date(2028, 5, 26)),
        (Term.SUMMER, 2, date(2028, 6, 5), date(2028, 7, 21)),
    ]
    inset = ClosureDay.objects.filter(organisation=cast.organisation, kind=ClosureDay.Kind.INSET)
    assert sorted(inset.values_list("date", "setting", "name")) == [
        (date(2027, 9, 1), None, "INSET day"),
        (date(2028, 1, 4), primary.pk, "INSET: safeguarding training"),
        (date(2028, 7, 20), nursery.pk, "INSET: end-of-year planning"),
        (date(2028, 7, 21), nursery.pk, "INSET: end-of-year planning"),
    ]
    # England's bank holidays of the new year, as the default calendar has them.
    assert ClosureDay.objects.filter(
        organisation=cast.organisation, date=date(2028, 5, 1), kind=ClosureDay.Kind.BANK_HOLIDAY
    ).exists()
    [event] = events("calendar.imported")
    assert event.actor == cast.org_admin.user
    assert event.details == {"years_added": 1, "half_terms_added": 6, "half_terms_changed": 0, "closures_added": 4}

    before = state(cast.organisation)
    response = upload(client, text)
    assert response.context["counts"] == {"new": 0, "update": 0, "unchanged": 9}
    response = confirm(client, response)
    assert state(cast.organisation) == before
    assert messages_of(response) == ["The calendar already matched the file: nothing changed."]


def test_an_import_moves_half_terms_of_an_existing_year(cast, login, calendar):
    text = (
        "academic year,term,half,starts,ends\n"
        "2026/27,Autumn,1,2026-09-02,2026-10-23\n"  # as it is
        "2026/27,Spring,2,22/02/2027,26/03/2027\n"  # up to Good Friday
        "2026/27,INSET,,2027-02-22,2027-02-22\n"
    )
    client = login(cast.org_admin)
    response = upload(client, text)
    assert response.context["counts"] == {"new": 1, "update": 1, "unchanged": 1}
    confirm(client, response)
    spring2 = half_term(cast.organisation, Term.SPRING, 2)
    assert spring2.ends == date(2027, 3, 26)
    assert AcademicYear.objects.get(organisation=cast.organisation).half_terms.count() == 6
    assert events("calendar.imported")[0].details["half_terms_changed"] == 1


def test_import_access(cast, login, calendar):
    for person in ("supervisor", "supervisee", "head", "dsl", "auditor"):
        assert login(getattr(cast, person)).get(IMPORT).status_code == 403, person
    assert login(setting_admin(cast)).get(IMPORT).status_code == 403
    assert login(cast.org_admin).put(IMPORT).status_code == 405
    response = login(cast.org_admin).get(IMPORT)
    assert response.status_code == 200
    assert "academic year, term, half, starts, ends, setting, name" in response.content.decode()


def test_an_import_is_only_into_the_importers_organisation(cast, login, calendar):
    text = "academic year,term,half,starts,ends,setting\n2026/27,INSET,,2027-01-04,2027-01-04,Cast Primary\n"
    client = login(cast.outsider)
    response = upload(client, text)
    problems = [(p.row, p.column) for p in response.context["result"].problems]
    # The outsider's organisation has neither a 2026/27 nor a setting called Cast Primary.
    assert problems == [(2, "academic year"), (2, "setting")]
    assert not ClosureDay.objects.filter(date=date(2027, 1, 4)).exists()
