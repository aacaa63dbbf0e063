"""The compliance dashboard (issue 6; DESIGN sections 2, 5, 6 and 8), a package by purpose:

- `scope`: who sees which settings and half terms (`dashboard_scope`, `auditor_windows`);
- `figures`: the figures, their titles and empty states (`FIGURES`);
- `coverage`: the agreements owed supervision in a half term, worked out in SQL (issue 14);
- `board`: the `Dashboard`, every figure for one viewer, half term and set of settings;
- `rows` and `lists`: the rows behind each figure, and a figure's rows a page at a time;
- `built`: the largest queries, built once a thread for the same inputs (how to ask, never an answer).

Who sees what: heads and DSLs the settings of their role (an organisation-wide head or DSL sees them
all); organisation admins holding that role organisation-wide see the whole trust; auditors only the
settings and half terms their live grants cover; nobody else. Rows carry names, dates, counts and
statuses, never what was said in supervision (no section text, action wording, decision or flag note).

Where things belong: an agreement to the settings of its supervisee; a session, and the record,
actions, decisions and flags of it, to the session's setting.

Cost: every figure is a fixed number of queries whatever the number of staff, and what each loads is
what it shows (issue 14). It reads across apps (accounts, records), as DESIGN's dashboard does.
"""

from .board import Dashboard
from .figures import FIGURES, HISTORY_HALF_TERMS, LEAVING_SOON_DAYS, MAX_SETTING_LINES, REVIEW_DUE_DAYS, Figure
from .lists import Listing, cancellation_summary, hours_label
from .rows import AgreementRow, Tile
from .scope import (
    auditor_windows,
    dashboard_scope,
    default_half_term,
    half_term_name,
    object_url,
    settings_in_windows,
)

__all__ = [
    "FIGURES",
    "HISTORY_HALF_TERMS",
    "LEAVING_SOON_DAYS",
    "MAX_SETTING_LINES",
    "REVIEW_DUE_DAYS",
    "AgreementRow",
    "Dashboard",
    "Figure",
    "Listing",
    "Tile",
    "auditor_windows",
    "cancellation_summary",
    "dashboard_scope",
    "default_half_term",
    "half_term_name",
    "hours_label",
    "object_url",
    "settings_in_windows",
]
