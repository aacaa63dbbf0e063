from django.urls import path

from .views import agreements_bulk, calendar_admin, contracts, dashboard, feeds, notes, notifications, planner, sessions

app_name = "supervision"

urlpatterns = [
    # Agreements
    path("contracts/", contracts.contract_list, name="contract-list"),
    path("contracts/new/", contracts.contract_add, name="contract-add"),
    path("contracts/template/", contracts.contract_template, name="contract-template"),
    path("contracts/for-everyone/", agreements_bulk.contract_bulk, name="contract-bulk"),
    path("contracts/for-everyone/<uuid:code>/", agreements_bulk.contract_bulk_status, name="contract-bulk-status"),
    path("contracts/<uuid:code>/", contracts.contract_detail, name="contract-detail"),
    path("contracts/<uuid:code>/edit/", contracts.contract_edit, name="contract-edit"),
    path("contracts/<uuid:code>/sign/", contracts.contract_sign_view, name="contract-sign"),
    path("contracts/<uuid:code>/override/", contracts.contract_override, name="contract-override"),
    path(
        "contracts/<uuid:code>/change-supervisor/",
        contracts.contract_change_supervisor_view,
        name="contract-change-supervisor",
    ),
    path("contracts/<uuid:code>/renew/", contracts.contract_renew_view, name="contract-renew"),
    path("contracts/<uuid:code>/end/", contracts.contract_end_view, name="contract-end"),
    # Calendar and sessions
    path("calendar/", sessions.calendar, name="calendar"),
    path("calendar/book/", sessions.session_book_view, name="session-book"),
    path("calendar/plan/", planner.planner, name="planner"),
    path("calendar/feed/", feeds.feed_manage, name="feed-manage"),
    path("calendar/feed/<str:token>.ics", feeds.feed, name="feed"),
    path("calendar/terms/", calendar_admin.terms, name="terms"),
    path("calendar/terms/import/", calendar_admin.terms_import, name="terms-import"),
    path("calendar/terms/<uuid:code>/", calendar_admin.half_term_edit, name="half-term-edit"),
    path("calendar/closures/new/", calendar_admin.closure_add, name="closure-add"),
    path("calendar/closures/<uuid:code>/delete/", calendar_admin.closure_delete, name="closure-delete"),
    path("sessions/<uuid:code>/", sessions.session_detail, name="session-detail"),
    path("sessions/<uuid:code>/invite.ics", feeds.session_ics, name="session-ics"),
    path("sessions/<uuid:code>/reschedule/", sessions.session_reschedule_view, name="session-reschedule"),
    path("sessions/<uuid:code>/cancel/", sessions.session_cancel_view, name="session-cancel"),
    path("sessions/<uuid:code>/rebook/", sessions.session_rebook, name="session-rebook"),
    path("sessions/<uuid:code>/mark/", sessions.session_mark_view, name="session-mark"),
    path("sessions/<uuid:code>/agenda/", sessions.agenda_add_view, name="agenda-add"),
    path("sessions/<uuid:code>/agenda/<int:item_id>/delete/", sessions.agenda_remove_view, name="agenda-remove"),
    # Groups and informal supervision
    path("groups/", notes.group_list, name="group-list"),
    path("groups/new/", notes.group_add, name="group-add"),
    path("groups/<uuid:code>/", notes.group_detail, name="group-detail"),
    path("notes/", notes.note_list, name="note-list"),
    path("notes/new/", notes.note_add_view, name="note-add"),
    # Compliance
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("dashboard/<slug:figure>/", dashboard.dashboard_list, name="dashboard-list"),
    path("exports/compliance.csv", dashboard.compliance_csv, name="compliance-csv"),
    # Reminders and escalations
    path("notifications/", notifications.notification_list, name="notification-list"),
    path("notifications/read-all/", notifications.notification_read_all, name="notification-read-all"),
    path("notifications/preferences/", notifications.notification_preferences, name="notification-preferences"),
    path("notifications/<uuid:code>/read/", notifications.notification_read, name="notification-read"),
]
