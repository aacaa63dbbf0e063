"""The built-in record forms, created for each organisation the first time it needs them.

- "1-1 Supervision Record": seed 002's six sections, each with Discussion/Reflection (including the
  actions from the last meeting) and Actions/Decisions (with timescales).
- "Early years supervision session": seed 000's eight-step example session.
- "Group supervision record": for group sessions (seed 001: the record says it was group supervision
  and shows the boundaries the group agreed).
"""

from django.db import transaction

from .models import FunctionTag, RecordTemplate, RecordTemplateVersion, TemplateSection

P, D, S = FunctionTag.PERFORMANCE, FunctionTag.DEVELOPMENT, FunctionTag.PERSONAL_SUPPORT

# (key, name, for_groups, [(title, prompt, function, takes_actions)])
BUILTIN = [
    (
        "kcc-1-1",
        "1-1 Supervision Record",
        False,
        [
            (
                "Health and Welfare",
                "Relevant personal or health issues; sickness from work and return to work; work-place issues; workload impact; health and safety; relevant risk assessment. Include the actions from the last meeting.",
                S,
                True,
            ),
            (
                "Practice Progress",
                "General progress and performance; practice to be celebrated; worries; observed practice and audit feedback; reflections on practice strengths and worries; any personal-practice impact issues.",
                P,
                True,
            ),
            (
                "Children and Families",
                "Work with families and children that has had a positive or negative impact; concerns about specific children (use the child's reference, not their name).",
                P,
                True,
            ),
            (
                "Professional Development",
                "CPD; progress against performance management targets; training and courses; practice and skills development.",
                D,
                True,
            ),
            ("Specific Areas of Additional Responsibility", "Including supervision of other staff members.", P, True),
            ("Any Other Business", "Anything else either of you wants recorded.", S, True),
        ],
    ),
    (
        "eyfs-8-step",
        "Early years supervision session",
        False,
        [
            (
                "Welcome",
                "How the staff member is generally; what has been happening or pre-occupying them: an easing into supervision.",
                S,
                False,
            ),
            ("Review of the last session", "The notes of the last session and its actions.", P, True),
            (
                "Main responsibilities",
                "Day-to-day work and priorities: successes and challenges, specific work with children and families, practice development.",
                P,
                True,
            ),
            ("Relationships", "With staff members, children and families and other work contacts.", S, True),
            (
                "Overall context of work",
                "Development, planning, progress and support needed; meetings with parents; health, welfare and safety, including stress, race, disability, sexuality, gender, religion and age; attendance and time-keeping.",
                P,
                True,
            ),
            (
                "Personal development",
                "Activities that will help, or have helped, the staff member develop in their role, including working with colleagues.",
                D,
                True,
            ),
            ("Action points", "The actions agreed at the end of the session.", P, True),
            (
                "Ending",
                "How the staff member feels at the end; feedback on any issues raised; how the supervisor could support them better.",
                S,
                False,
            ),
        ],
    ),
    (
        "group",
        "Group supervision record",
        True,
        [
            (
                "Purpose and boundaries",
                "Why the group met, and a reminder of the confidentiality boundaries it agreed.",
                P,
                False,
            ),
            (
                "Case discussion",
                "The child or family discussed (by reference), what each member brought, and the analysis of risk and need.",
                P,
                True,
            ),
            ("Learning and development", "Problem solving and peer learning: what the group learnt.", D, True),
            ("Support and wellbeing", "The personal impact of the work on the group's members.", S, True),
        ],
    ),
]


@transaction.atomic
def ensure_builtin_templates(organisation) -> dict[str, RecordTemplate]:
    """The organisation's copies of the built-in forms, created once. Returns them by key."""
    existing = {
        t.builtin_key: t for t in RecordTemplate.objects.filter(organisation=organisation).exclude(builtin_key="")
    }
    for key, name, for_groups, sections in BUILTIN:
        if key in existing:
            continue
        template = RecordTemplate.objects.create(
            organisation=organisation, name=name, for_groups=for_groups, builtin_key=key
        )
        version = RecordTemplateVersion.objects.create(template=template, number=1)
        TemplateSection.objects.bulk_create(
            TemplateSection(
                version=version, order=i, title=title, prompt=prompt, function=function, takes_actions=actions
            )
            for i, (title, prompt, function, actions) in enumerate(sections, start=1)
        )
        existing[key] = template
    return existing
