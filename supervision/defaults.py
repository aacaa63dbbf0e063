"""Built-in wording for the organisation's agreement template.

The responsibilities follow seed 001 (a trust's minimum standards) and the discussion areas of
seed 002's supervision contract; the confidentiality terms follow seed 001's table and seed 004.
"""

PURPOSE = """Supervision is a regular, planned and recorded partnership between the supervisee, the supervisor and the setting. It keeps children safe and staff well: it looks at performance and practice (including safeguarding), professional development, and personal support, aiming for a balance of all three over the whole process.

To support the process, these areas are discussed, and both of us prepare for each of them:
- being accountable for practice and upholding professional standards; building purposeful, professional relationships and communicating effectively;
- making sound professional judgements based on good practice, and seeking advice from the line manager;
- reflecting on, analysing and evaluating practice, and seeking support with the emotional impact of the work (child protection, SEN, staffing, CPD);
- sharing, debriefing and identifying resources for stressful situations or concerns (training, staffing, specific children);
- challenging constructively, in the interests of children and families, including through the whistleblowing policy;
- developing the knowledge, skills and values the role needs, through the performance management cycle;
- managing a realistic workload, and discussing ways to address it if it grows."""

SUPERVISOR_RESPONSIBILITIES = """As supervisor I will:
- share the responsibility for making the supervisory relationship work;
- keep supervision confidential, subject to the safety of children and staff;
- create effective, sensitive and supportive supervision, in a suitable private place, free from interruptions;
- agree the timescales of supervision and keep to the agreed frequency, rebooking as near as possible to the original time if a session must be cancelled;
- keep accurate and clear records of comments about, and actions for, the supervisee, and of decisions about particular cases;
- make sure this agreement is agreed and reviewed every year;
- make sure issues of diversity are addressed constructively and positively;
- share responsibility for case oversight, including safeguarding, accountability and workload."""

SUPERVISEE_RESPONSIBILITIES = """As supervisee I will:
- share the responsibility for making the supervisory relationship work;
- attend regularly and on time, take part actively and bring my agenda, prepared beforehand;
- accept the mandate to be supervised and be accountable for the actions agreed;
- make sure the record reflects the meeting, and agree it before it is signed;
- make sure changes or actions about individual children are recorded on their files;
- make sure this agreement is agreed and reviewed every year."""

CONFIDENTIALITY_TERMS = """What is said in supervision is confidential between us and the record is stored securely, with a copy for the supervisee. Personal support stays confidential except where there is a safeguarding concern about a child or about the supervisee, or it affects the supervisee's ability to do their work.

The supervisor has a duty to report, through the correct channels, anything that:
- brings the setting into disrepute;
- involves harm to self or others;
- may be gross misconduct;
- breaches the child protection policy;
- breaches discipline;
- concerns performance or capability that puts children's safety at risk;
- would have a significant impact on the organisation.

Supervision records may be inspected by auditors and inspectors, and are kept for one year after the supervisee leaves."""
