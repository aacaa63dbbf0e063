"""The figures of the dashboard: their names, titles and empty states, and how far ahead they look."""

from dataclasses import dataclass

# An agreement's annual review is "due" this many days ahead (DESIGN section 7).
REVIEW_DUE_DAYS = 30
# Coverage is charted over this many half terms, ending with the chosen one.
HISTORY_HALF_TERMS = 6
# Above this many settings the coverage chart draws one line for them all (the table keeps each).
MAX_SETTING_LINES = 8
# People leaving within this many days show with the leavers, so their work is handed over in time.
LEAVING_SOON_DAYS = 30


@dataclass(frozen=True)
class Figure:
    slug: str
    title: str
    method: str
    in_half_term: bool  # about the chosen half term, or "as of today"
    empty: str


FIGURES = {
    f.slug: f
    for f in [
        Figure(
            "coverage",
            "Coverage: agreements with a held, signed session",
            "coverage",
            True,
            "No agreement was owed supervision in this half term.",
        ),
        Figure(
            "overdue",
            "Overdue supervision",
            "overdue",
            True,
            "Nobody is overdue: every agreement owed supervision has a session held or booked.",
        ),
        Figure(
            "cancellations",
            "Cancellations and rebooking",
            "cancellations",
            True,
            "No session was cancelled in this half term.",
        ),
        Figure(
            "awaiting-signature",
            "Records awaiting a signature",
            "awaiting_signature",
            False,
            "Every submitted record is signed.",
        ),
        Figure(
            "overdue-actions",
            "Overdue actions",
            "overdue_actions",
            False,
            "No action agreed in supervision is past its due date.",
        ),
        Figure(
            "safeguarding-decisions",
            "Safeguarding decisions not yet on the child's file",
            "safeguarding_decisions",
            False,
            "Every safeguarding decision of a signed record is confirmed on the child's file.",
        ),
        Figure(
            "escalations",
            "Open confidentiality escalations",
            "escalations",
            False,
            "No confidentiality flag is waiting to be resolved.",
        ),
        Figure(
            "agreements-missing",
            "Staff without a current agreement",
            "agreements_missing",
            False,
            "Every current member of staff has a supervision agreement.",
        ),
        Figure(
            "agreements-unsigned",
            "Agreements not signed by both",
            "agreements_unsigned",
            False,
            "Every current agreement is signed by both.",
        ),
        Figure(
            "review-due",
            f"Agreements due for review within {REVIEW_DUE_DAYS} days",
            "review_due",
            False,
            f"No agreement is due for its annual review in the next {REVIEW_DUE_DAYS} days.",
        ),
        Figure(
            "review-overdue",
            "Agreements past their review date",
            "review_overdue",
            False,
            "No agreement is past its annual review date.",
        ),
        Figure(
            "leavers-open-work",
            "Leavers' open work to reassign",
            "leavers_open_work",
            False,
            "No leaver, or anyone leaving in the next 30 days, has supervisees, open agreements, unsigned "
            "records or open actions in their name.",
        ),
        Figure(
            "caseloads",
            "Supervisor caseloads",
            "caseloads",
            False,
            "Nobody supervises a current agreement yet.",
        ),
        Figure(
            "unsupervised-supervisors",
            "Supervisors without supervision of their own",
            "unsupervised_supervisors",
            False,
            "Every supervisor has a current agreement of their own.",
        ),
        Figure(
            "balance",
            "Balance of the three functions",
            "balance_by_supervisor",
            False,
            "No record of this academic year has any section written yet.",
        ),
    ]
}
