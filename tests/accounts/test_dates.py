"""The product's date filters print exactly what Django's `date` filter printed with the same format."""

from datetime import UTC, date, datetime, timedelta

from django.template import Context, Template
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

FORMATS = {"day": "D j M Y", "day_time": "D j M Y, H:i", "day_time_seconds": "D j M Y, H:i:s"}

# From 1 Jan 1990 to 2060, in UTC: across every change of the clocks, as a page shows them in London.
moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)


def _both(name: str, value) -> tuple[str, str]:
    ours = Template(f"{{{{ v|{name} }}}}").render(Context({"v": value}))
    django = Template(f'{{{{ v|date:"{FORMATS[name]}" }}}}').render(Context({"v": value}))
    return ours, django


@settings(max_examples=300, deadline=None)
@given(moments)
def test_a_moment_is_written_as_the_date_filter_writes_it_in_london(moment):
    with timezone.override("Europe/London"):
        for name in FORMATS:
            ours, django = _both(name, moment)
            assert ours == django


@settings(max_examples=100, deadline=None)
@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 12, 31)))
def test_a_day_is_written_as_the_date_filter_writes_it(day):
    ours, django = _both("day", day)
    assert ours == django


def test_the_hour_the_clocks_go_back_is_shown_in_local_time():
    # 01:30 UTC on Sun 26 Oct 2025 is 01:30 GMT; 00:30 UTC is 01:30 BST.
    first = datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    with timezone.override("Europe/London"):
        assert _both("day_time", first)[0] == "Sun 26 Oct 2025, 01:30"
        assert _both("day_time", first + timedelta(hours=1))[0] == "Sun 26 Oct 2025, 01:30"
        assert _both("day", datetime(2025, 6, 30, 23, 30, tzinfo=UTC))[0] == "Tue 1 Jul 2025"


def test_nothing_that_is_not_a_date_is_written():
    for name in FORMATS:
        for value in (None, "", 0):
            assert _both(name, value) == ("", "")
    # A bare day where a time was expected: its day, where Django's filter fails the page.
    assert Template("{{ v|day_time }}").render(Context({"v": date(2025, 11, 3)})) == "Mon 3 Nov 2025"


def test_a_naive_moment_is_written_as_it_is():
    naive = datetime(2025, 11, 3, 9, 5, 7)
    with timezone.override("Europe/London"):
        for name in FORMATS:
            ours, django = _both(name, naive)
            assert ours == django
