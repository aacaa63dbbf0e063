"""The demo organisation of DESIGN section 11: Riverside Learning Trust.

Built once by `manage.py seed_demo`; later issues add their data to `seed_demo` in their own apps.
Deterministic: the same people every time, so screenshots and browser tests can rely on them.
"""

from datetime import date, time, timedelta

from django.conf import settings
from django.db import transaction

from .audit import audit_event
from .models import EmploymentType, Organisation, Role, RoleAssignment, Setting, StaffMember
from .services import StaffData, staff_create

ORGANISATION_NAME = "Riverside Learning Trust"

# (email, full name, job title, setting key, employment, days, roles, supervisor email, new to post)
FULL_WEEK = "Mon Tue Wed Thu Fri"
DEMO_SIGN_INS = [
    ("admin@riverside.example", "organisation admin"),
    ("head@riverside.example", "head"),
    ("dsl@riverside.example", "DSL"),
    ("supervisor@riverside.example", "supervisor (also a supervisee)"),
    ("staff@riverside.example", "supervisee"),
    ("auditor@riverside.example", "auditor"),
]

SETTINGS = {
    "primary": ("Riverside Primary School", Setting.Kind.PRIMARY, time(8, 30), time(16, 0)),
    "secondary": ("Riverside Academy", Setting.Kind.SECONDARY, time(8, 15), time(16, 30)),
    "nursery": ("Little Otters Nursery", Setting.Kind.NURSERY, time(7, 45), time(18, 0)),
}

P, F, A, V = EmploymentType.PERMANENT, EmploymentType.FIXED_TERM, EmploymentType.AGENCY, EmploymentType.VOLUNTEER
S, D, H, AU, OA = Role.SUPERVISOR, Role.DSL, Role.HEAD, Role.AUDITOR, Role.ORG_ADMIN

# fmt: off
PEOPLE = [
    # Trust-wide
    ("admin@riverside.example", "Priya Shah", "Trust Business Manager", "primary", P, FULL_WEEK, [(OA, None)], None, False),
    ("auditor@riverside.example", "Graham Whitfield", "Trust Safeguarding Auditor", "primary", F, "Tue Thu", [(AU, None)], None, False),
    ("ceo@riverside.example", "Helen Okafor", "Chief Executive Officer", "primary", P, FULL_WEEK, [(S, None)], None, False),
    # Riverside Primary School
    ("head@riverside.example", "Margaret Ellis", "Headteacher", "primary", P, FULL_WEEK, [(H, "primary"), (S, "primary")], "ceo@riverside.example", False),
    ("dsl@riverside.example", "Daniel Price", "Deputy Head and DSL", "primary", P, FULL_WEEK, [(D, "primary"), (S, "primary")], "head@riverside.example", False),
    ("supervisor@riverside.example", "Sarah Collins", "Key Stage 1 Phase Lead", "primary", P, FULL_WEEK, [(S, "primary")], "head@riverside.example", False),
    ("staff@riverside.example", "Tom Baker", "Year 2 Teacher", "primary", P, FULL_WEEK, [], "supervisor@riverside.example", False),
    ("amy.hughes@riverside.example", "Amy Hughes", "Reception Teacher", "primary", P, FULL_WEEK, [], "supervisor@riverside.example", False),
    ("ben.carter@riverside.example", "Ben Carter", "Year 1 Teacher", "primary", P, FULL_WEEK, [], "supervisor@riverside.example", True),
    ("chloe.evans@riverside.example", "Chloe Evans", "Teaching Assistant", "primary", P, "Mon Tue Thu", [], "supervisor@riverside.example", False),
    ("david.lee@riverside.example", "David Lee", "Supply Teacher", "primary", A, "Mon Tue Wed", [], "supervisor@riverside.example", False),
    ("emma.wilson@riverside.example", "Emma Wilson", "SENCo", "primary", P, "Mon Wed Thu Fri", [], "dsl@riverside.example", False),
    ("fatima.khan@riverside.example", "Fatima Khan", "Family Support Worker", "primary", P, FULL_WEEK, [], "dsl@riverside.example", False),
    ("george.martin@riverside.example", "George Martin", "Year 5 Teacher", "primary", F, FULL_WEEK, [], "dsl@riverside.example", False),
    ("hannah.scott@riverside.example", "Hannah Scott", "Learning Mentor", "primary", P, "Wed Thu Fri", [], "dsl@riverside.example", False),
    ("isaac.green@riverside.example", "Isaac Green", "Reading Volunteer", "primary", V, "Fri", [], "dsl@riverside.example", False),
    ("jade.turner@riverside.example", "Jade Turner", "Year 6 Teacher", "primary", P, FULL_WEEK, [], "head@riverside.example", False),
    # Riverside Academy
    ("k.osei@riverside.example", "Kwame Osei", "Principal", "secondary", P, FULL_WEEK, [(H, "secondary"), (S, "secondary")], "ceo@riverside.example", False),
    ("l.morgan@riverside.example", "Laura Morgan", "Assistant Principal and DSL", "secondary", P, FULL_WEEK, [(D, "secondary"), (S, "secondary")], "k.osei@riverside.example", False),
    ("m.patel@riverside.example", "Mehul Patel", "Head of Year 9", "secondary", P, FULL_WEEK, [(S, "secondary")], "l.morgan@riverside.example", False),
    ("n.brown@riverside.example", "Natalie Brown", "English Teacher", "secondary", P, FULL_WEEK, [], "m.patel@riverside.example", False),
    ("o.adeyemi@riverside.example", "Olu Adeyemi", "Maths Teacher", "secondary", P, FULL_WEEK, [], "m.patel@riverside.example", True),
    ("p.walsh@riverside.example", "Patrick Walsh", "Science Teacher", "secondary", P, "Mon Tue Wed", [], "m.patel@riverside.example", False),
    ("r.ahmed@riverside.example", "Rukhsana Ahmed", "Pastoral Lead", "secondary", P, FULL_WEEK, [], "l.morgan@riverside.example", False),
    ("s.jones@riverside.example", "Steffan Jones", "PE Teacher", "secondary", F, FULL_WEEK, [], "m.patel@riverside.example", False),
    ("t.nguyen@riverside.example", "Thi Nguyen", "Cover Supervisor", "secondary", A, FULL_WEEK, [], "l.morgan@riverside.example", False),
    ("u.roberts@riverside.example", "Ursula Roberts", "Attendance Officer", "secondary", P, "Tue Wed Thu", [], "l.morgan@riverside.example", False),
    ("v.kowalski@riverside.example", "Viktor Kowalski", "History Teacher", "secondary", P, FULL_WEEK, [], "m.patel@riverside.example", False),
    ("w.campbell@riverside.example", "Wendy Campbell", "Exams Officer", "secondary", P, "Mon Tue", [], "k.osei@riverside.example", False),
    ("x.li@riverside.example", "Xin Li", "Mentor Volunteer", "secondary", V, "Wed", [], "r.ahmed@riverside.example", False),
    # Little Otters Nursery
    ("y.hall@riverside.example", "Yvonne Hall", "Nursery Manager", "nursery", P, FULL_WEEK, [(H, "nursery"), (D, "nursery"), (S, "nursery")], "ceo@riverside.example", False),
    ("z.wright@riverside.example", "Zara Wright", "Deputy Manager", "nursery", P, FULL_WEEK, [(S, "nursery")], "y.hall@riverside.example", False),
    ("a.clarke@riverside.example", "Alice Clarke", "Room Leader (Toddlers)", "nursery", P, FULL_WEEK, [], "z.wright@riverside.example", False),
    ("b.murphy@riverside.example", "Bethany Murphy", "Early Years Practitioner", "nursery", P, "Mon Tue Wed", [], "z.wright@riverside.example", False),
    ("c.davies@riverside.example", "Ceri Davies", "Early Years Practitioner", "nursery", P, "Wed Thu Fri", [], "z.wright@riverside.example", True),
    ("d.robinson@riverside.example", "Dawn Robinson", "Nursery Assistant", "nursery", A, "Mon Tue Wed Thu", [], "z.wright@riverside.example", False),
    ("e.thompson@riverside.example", "Ellie Thompson", "Apprentice Practitioner", "nursery", F, FULL_WEEK, [], "y.hall@riverside.example", True),
    ("f.ali@riverside.example", "Farah Ali", "Room Leader (Babies)", "nursery", P, "Mon Tue Thu Fri", [], "y.hall@riverside.example", False),
    ("g.white@riverside.example", "Gemma White", "Nursery Cook", "nursery", P, "Mon Tue Wed Thu Fri", [], "y.hall@riverside.example", False),
]
# fmt: on

DAY_INDEX = {"Mon": 0, "Tue": 1, "Wed": 2, "Thu": 3, "Fri": 4, "Sat": 5, "Sun": 6}


def demo_exists() -> bool:
    return Organisation.objects.filter(name=ORGANISATION_NAME).exists()


@transaction.atomic
def seed_people(today: date) -> Organisation:
    """Create the trust, its settings and its staff with roles and supervisors. Returns the trust."""
    # The printed password sign-ins keep working: the second-factor rule starts off (README, "Try it").
    organisation = Organisation.objects.create(name=ORGANISATION_NAME, require_second_factor=False)
    settings_by_key = {
        key: Setting.objects.create(organisation=organisation, name=name, kind=kind, day_starts=starts, day_ends=ends)
        for key, (name, kind, starts, ends) in SETTINGS.items()
    }
    by_email: dict[str, StaffMember] = {}
    academic_year_start = date(today.year if today.month >= 9 else today.year - 1, 9, 1)
    for index, (email, name, title, setting_key, employment, days, roles, _supervisor, new_to_post) in enumerate(
        PEOPLE
    ):
        if new_to_post:
            start = today.replace(day=1) if today.day > 1 else today
        elif employment == EmploymentType.AGENCY:
            # One agency worker past the five-week threshold, one not yet.
            start = academic_year_start if index % 2 else today.replace(day=1)
        else:
            start = date(academic_year_start.year - 1 - index % 6, 9, 1)
        staff = staff_create(
            actor=None,
            organisation=organisation,
            data=StaffData(
                full_name=name,
                email=email,
                job_title=title,
                employment_type=employment,
                start_date=start,
                settings=[settings_by_key[setting_key]],
                working_days={DAY_INDEX[d]: (None, None) for d in days.split()},
                new_to_post=new_to_post,
                roles=[(role, settings_by_key[key] if key else None) for role, key in roles],
            ),
        )
        staff.user.set_password(settings.DEMO_PASSWORD)
        staff.user.save(update_fields=["password"])
        by_email[email] = staff
    for email, *_rest in PEOPLE:
        supervisor = _rest[6]
        if supervisor:
            staff = by_email[email]
            staff.supervisor = by_email[supervisor]
            staff.save(update_fields=["supervisor"])
    # A leaver, for the leavers filter and (later) retention.
    leaver = staff_create(
        actor=None,
        organisation=organisation,
        data=StaffData(
            full_name="Rachel Stone",
            email="rachel.stone@riverside.example",
            job_title="Former Year 4 Teacher",
            employment_type=P,
            start_date=date(academic_year_start.year - 4, 9, 1),
            leaving_date=today - timedelta(days=150),
            settings=[settings_by_key["primary"]],
            working_days=dict.fromkeys(range(5), (None, None)),
        ),
    )
    leaver.supervisor = by_email["supervisor@riverside.example"]
    leaver.save(update_fields=["supervisor"])
    assert RoleAssignment.objects.filter(staff__organisation=organisation, role=Role.ORG_ADMIN).exists()
    audit_event(action="demo.seeded", organisation=organisation, details={"staff": len(PEOPLE) + 1})
    return organisation
