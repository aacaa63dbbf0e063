"""Forms of the calendar pages, and the calendar CSV import: read, check every row, then hand over to
`services.calendar_import`. The file format is documented in docs/calendar-import.md.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first data row 2.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.utils import timezone
from django.utils.formats import date_format

from accounts.forms import CsvUploadForm, DateInput
from accounts.imports import Problem, read_rows
from accounts.models import Organisation, PendingImport, Setting
from accounts.validators import TextForm, control_character_problem

from . import services
from .models import TERM_ORDER, AcademicYear, ClosureDay, HalfTerm, Term
from .school_calendar import academic_year_name

# --- The calendar page and its small forms ---------------------------------------------------------


class GenerateYearForm(TextForm):
    """The "add the default calendar" button: which academic year (by the year it starts in)."""

    start_year = forms.IntegerField()

    def clean_start_year(self):
        start_year = self.cleaned_data["start_year"]
        this_year = services.academic_start_year(timezone.localdate())
        if not this_year - 10 <= start_year <= this_year + 10:
            raise forms.ValidationError("Choose an academic year within ten years of this one.")
        return start_year


class ClosureFilterForm(TextForm):
    """Which setting's closure days the calendar page shows and counts."""

    setting = forms.ModelChoiceField(queryset=Setting.objects.none(), required=False, empty_label="Every setting")

    def __init__(self, *args, settings_qs, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["setting"].queryset = settings_qs
        self.fields["setting"].widget.attrs["class"] = "form-select"


class HalfTermForm(TextForm):
    starts = forms.DateField(label="First day", widget=DateInput(), help_text="The first day pupils are in.")
    ends = forms.DateField(label="Last day", widget=DateInput(), help_text="The last day before the holiday.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", "Save the dates"))

    def clean(self):
        cleaned = super().clean()
        starts, ends = cleaned.get("starts"), cleaned.get("ends")
        if starts and ends and ends <= starts:
            self.add_error("ends", "A half term ends after the day it starts.")
        return cleaned


class ClosureForm(TextForm):
    """An INSET day or another closure, for every setting or one of them."""

    KINDS = [(ClosureDay.Kind.INSET.value, "INSET day"), (ClosureDay.Kind.OTHER.value, "Other closure")]

    date = forms.DateField(widget=DateInput())
    kind = forms.ChoiceField(label="What", choices=KINDS, initial=ClosureDay.Kind.INSET, widget=forms.RadioSelect)
    name = forms.CharField(
        max_length=200,
        required=False,
        help_text="Such as “INSET: safeguarding training”. Leave empty for “INSET day”.",
    )
    setting = forms.ModelChoiceField(
        queryset=Setting.objects.none(), required=False, help_text="No session is booked there on this day."
    )

    def __init__(self, *args, settings_qs, every_setting: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["setting"].queryset = settings_qs
        if every_setting:
            self.fields["setting"].empty_label = "Every setting"
        else:
            # An admin of some settings closes only those.
            self.fields["setting"].required = True
            self.fields["setting"].empty_label = None
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", "Add the day"))

    def clean_name(self):
        return self.cleaned_data["name"].strip()


class CalendarImportForm(CsvUploadForm):
    file = forms.FileField(
        label="CSV file",
        required=False,
        help_text="Comma-separated, with a header row. Up to 1 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    MAX_BYTES = 1024 * 1024
    KIND = PendingImport.Kind.CALENDAR
    TOO_LARGE = "The file is larger than 1 MB: a calendar file is a few dozen rows."


# --- The calendar CSV import -------------------------------------------------------------------------

COLUMNS = ["academic year", "term", "half", "starts", "ends", "setting", "name"]
REQUIRED_COLUMNS = ["academic year", "term", "half", "starts", "ends"]
TERM_NAMES = {"autumn": Term.AUTUMN, "spring": Term.SPRING, "summer": Term.SUMMER}
INSET = "inset"
MAX_ROWS = 500
# A school has five INSET days a year; a longer range in one row is more likely a typing mistake.
MAX_INSET_DAYS = 5
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y", "%d %b %Y", "%d %B %Y", "%a %d %b %Y")
YEAR_PATTERN = re.compile(r"^(\d{4})\s*[/-]\s*(\d{2}|\d{4})$")
SIX_HALF_TERMS = [(term, half) for term in (Term.AUTUMN, Term.SPRING, Term.SUMMER) for half in (1, 2)]


def _key(header: str) -> str:
    return re.sub(r"[\s_]+", " ", header.strip().lower())


def _label(term: str, half: int) -> str:
    return f"{Term(term).label} {half}"


def parse_date(value: str) -> date:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
    raise ValueError(value)


def parse_academic_year(value: str) -> int:
    """The year an academic year starts in, from "2026/27", "2026/2027" or "2026-27"."""
    match = YEAR_PATTERN.match(value.strip())
    if not match:
        raise ValueError(value)
    first, second = int(match[1]), match[2]
    if second != str(first + 1)[-len(second) :]:
        raise ValueError(value)
    return first


@dataclass
class HalfTermLine:
    row: int
    data: services.ImportedHalfTerm
    start_year: int
    existing: HalfTerm | None = None
    action: str = "new"  # new, update or unchanged

    @property
    def name(self):
        return _label(self.data.term, self.data.half)

    @property
    def label(self):
        return f"{self.name} {self.data.year_name}"


@dataclass
class InsetLine:
    row: int
    year_name: str
    days: list[date]
    setting: Setting | None
    name: str
    new_days: list[date] = field(default_factory=list)

    @property
    def action(self):
        return "new" if self.new_days else "unchanged"


@dataclass
class CalendarImport:
    half_terms: list[HalfTermLine]
    inset_days: list[InsetLine]
    problems: list[Problem]
    new_years: list[str] = field(default_factory=list)

    @property
    def ok(self):
        return not self.problems

    @property
    def rows(self):
        return sorted([*self.half_terms, *self.inset_days], key=lambda line: line.row)

    def count(self, action):
        return sum(1 for line in self.rows if line.action == action)

    def closures(self) -> list[services.ImportedClosure]:
        return [
            services.ImportedClosure(day=day, setting=line.setting, name=line.name)
            for line in self.inset_days
            for day in line.new_days
        ]


def parse_calendar(
    text: str, *, organisation: Organisation, allowed_settings: list[Setting], org_wide: bool
) -> CalendarImport:
    """Check every row against the organisation's calendar; nothing is written."""
    problems: list[Problem] = []
    reader = read_rows(text, problems)
    header = next(reader, None)
    if header is None:
        return CalendarImport([], [], problems or [Problem(1, "(header)", "The file is empty.")])
    header = header[1]
    keys = [_key(h) for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in keys]
    if missing:
        return CalendarImport([], [], [Problem(1, c, "This column is missing from the header row.") for c in missing])
    for h, k in zip(header, keys, strict=True):
        if k and k not in COLUMNS:
            problems.append(Problem(1, h, f"Unknown column. Expected: {', '.join(COLUMNS)}."))

    records = []
    for number, values in reader:
        if not any(v.strip() for v in values):
            continue
        if len(records) >= MAX_ROWS:
            problems.append(Problem(number, "(row)", f"The file has more than {MAX_ROWS} rows."))
            break
        records.append((number, {k: (values[i].strip() if i < len(values) else "") for i, k in enumerate(keys)}))

    settings_by_name = {s.name.lower(): s for s in allowed_settings}
    half_terms: list[HalfTermLine] = []
    inset_lines: list[InsetLine] = []
    seen_half_terms: dict[tuple, int] = {}  # (year, term, half) -> row
    seen_days: dict[tuple, int] = {}  # (day, setting id) -> row
    file_years: dict[str, tuple[int, int]] = {}  # year name -> (start year, first row)
    file_year_halves: dict[str, set] = {}
    inset_years: list[tuple[int, str]] = []

    for number, record in records:
        row_problems: list[Problem] = []

        # A cell with a control character gets that one problem, not others about the same text too.
        controlled = {c for c in COLUMNS if control_character_problem(record.get(c, ""))}

        def problem(column, message, _row=number, _list=row_problems, _skip=controlled):
            if column not in _skip:
                _list.append(Problem(_row, column, message))

        for column in sorted(controlled, key=COLUMNS.index):
            row_problems.append(Problem(number, column, control_character_problem(record[column])))
        start_year = year_name = None
        if not record.get("academic year"):
            problem("academic year", "This value is required, such as 2026/27.")
        else:
            try:
                start_year = parse_academic_year(record["academic year"])
                year_name = academic_year_name(start_year)
            except ValueError:
                problem("academic year", f"“{record['academic year']}” is not an academic year. Write it as 2026/27.")

        term_text = record.get("term", "").lower()
        term = TERM_NAMES.get(term_text)
        if term is None and term_text != INSET:
            problem("term", f"“{record.get('term', '')}” is not one of: Autumn, Spring, Summer, INSET.")

        dates = {}
        for column in ("starts", "ends"):
            value = record.get(column, "")
            if not value:
                if not (column == "ends" and term_text == INSET):
                    problem(column, "This value is required.")
                continue
            try:
                dates[column] = parse_date(value)
            except ValueError:
                problem(column, f"“{value}” is not a date. Write it as 2026-09-02 or 02/09/2026.")

        if term is not None:
            half = None
            if record.get("half") in ("1", "2"):
                half = int(record["half"])
            else:
                problem("half", f"“{record.get('half', '')}” is not a half: write 1 or 2.")
            if record.get("setting"):
                problem("setting", "Half terms are the same for every setting: leave “setting” empty on this row.")
            if year_name and half:
                key = (year_name, term, half)
                if key in seen_half_terms:
                    problem("half", f"{_label(term, half)} {year_name} is also on row {seen_half_terms[key]}.")
                seen_half_terms.setdefault(key, number)
                file_years.setdefault(year_name, (start_year, number))
                file_year_halves.setdefault(year_name, set()).add((term, half))
            if start_year is not None and "starts" in dates and "ends" in dates:
                for column, messages in services.half_term_date_problems(
                    start_year=start_year, starts=dates["starts"], ends=dates["ends"]
                ).items():
                    for message in messages:
                        problem(column, message)
            if not row_problems:
                data = services.ImportedHalfTerm(year_name, term, half, dates["starts"], dates["ends"])
                half_terms.append(HalfTermLine(row=number, data=data, start_year=start_year))

        elif term_text == INSET:
            setting = None
            if record.get("setting"):
                setting = settings_by_name.get(record["setting"].lower())
                if setting is None:
                    choices = ", ".join(s.name for s in allowed_settings)
                    problem("setting", f"There is no setting you manage called “{record['setting']}”: {choices}.")
            elif not org_wide:
                problem("setting", "Name the setting: you manage some settings, not the whole organisation.")
            days = []
            starts = dates.get("starts")
            ends = dates.get("ends", starts)
            if starts and ends:
                if ends < starts:
                    problem("ends", "The last INSET day is before the first.")
                else:
                    days = [starts + timedelta(days=i) for i in range((ends - starts).days + 1)]
                    days = [d for d in days if d.weekday() < 5]
                    if not days:
                        problem("starts", f"{date_format(starts)} is a {starts:%A}: INSET days are weekdays.")
                    elif len(days) > MAX_INSET_DAYS:
                        problem("ends", f"One row covers at most {MAX_INSET_DAYS} INSET days; this covers {len(days)}.")
                if start_year is not None:
                    first, last = services.academic_year_window(start_year)
                    for column, day in (("starts", starts), ("ends", ends)):
                        if not first <= day <= last:
                            problem(column, f"{date_format(day)} is outside the academic year {year_name}.")
            setting_id = setting.id if setting else None
            for day in days:
                earlier = seen_days.get((day, setting_id))
                if earlier is not None:
                    problem("starts", f"{date_format(day)} is also on row {earlier}.")
                    break
            for day in days:
                seen_days.setdefault((day, setting_id), number)
            if year_name:
                inset_years.append((number, year_name))
            if not row_problems:
                inset_lines.append(
                    InsetLine(row=number, year_name=year_name, days=days, setting=setting, name=record.get("name", ""))
                )
        problems.extend(row_problems)

    # The organisation's calendar as it stands: two queries whatever the length of the file.
    years = {y.name: y for y in AcademicYear.objects.filter(organisation=organisation)}
    existing = {
        (h.academic_year.name, h.term, h.half): h
        for h in HalfTerm.objects.filter(organisation=organisation).select_related("academic_year")
    }

    new_years = sorted(name for name in file_years if name not in years)
    for name in new_years:
        missing_halves = [_label(t, h) for t, h in SIX_HALF_TERMS if (t, h) not in file_year_halves[name]]
        if missing_halves:
            problems.append(
                Problem(
                    file_years[name][1],
                    "term",
                    f"{name} is not in the calendar yet, so the file gives all six half terms: "
                    f"{', '.join(missing_halves)} missing.",
                )
            )
    for number, name in inset_years:
        if name not in years and name not in file_years:
            problems.append(
                Problem(
                    number,
                    "academic year",
                    f"{name} is not in the calendar: add its half terms to the file, or add the default calendar "
                    "for it first.",
                )
            )

    # Half terms follow one another without overlapping, the file's and those already in the calendar.
    in_file = {(line.data.year_name, line.data.term, line.data.half) for line in half_terms}
    sequence = [
        (services.academic_start_year(h.academic_year.starts), TERM_ORDER[h.term], h.half, h, None)
        for key, h in existing.items()
        if key not in in_file
    ] + [(line.start_year, TERM_ORDER[line.data.term], line.data.half, line.data, line) for line in half_terms]
    sequence.sort(key=lambda item: item[:3])
    for before, after in zip(sequence, sequence[1:], strict=False):
        a, b = before[3], after[3]
        if b.starts > a.ends:
            continue
        a_name = before[4].label if before[4] else f"{a} (already in the calendar)"
        b_name = after[4].label if after[4] else f"{b} (already in the calendar)"
        if after[4] is not None:
            problems.append(Problem(after[4].row, "starts", f"Starts before {a_name} ends on {date_format(a.ends)}."))
        else:
            problems.append(Problem(before[4].row, "ends", f"Ends after {b_name} starts on {date_format(b.starts)}."))

    problems.sort(key=lambda p: (p.row, COLUMNS.index(p.column) if p.column in COLUMNS else -1))
    if problems:
        return CalendarImport(half_terms, inset_lines, problems, new_years)

    for line in half_terms:
        line.existing = existing.get((line.data.year_name, line.data.term, line.data.half))
        if line.existing is None:
            line.action = "new"
        elif (line.existing.starts, line.existing.ends) == (line.data.starts, line.data.ends):
            line.action = "unchanged"
        else:
            line.action = "update"
    closed = {
        (c.date, c.setting_id)
        for c in ClosureDay.objects.filter(
            organisation=organisation, date__in=[d for line in inset_lines for d in line.days]
        )
    }
    for line in inset_lines:
        setting_id = line.setting.id if line.setting else None
        line.new_days = [d for d in line.days if (d, None) not in closed and (d, setting_id) not in closed]
    return CalendarImport(half_terms, inset_lines, [], new_years)
