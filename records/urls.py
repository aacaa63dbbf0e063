from django.urls import path

from .views import actions, exports, oversight, pdf, records, templates

app_name = "records"

urlpatterns = [
    path("sessions/<uuid:code>/record/", records.record_start_view, name="record-start"),
    path("records/", records.record_list, name="record-list"),
    path("records/verify/", pdf.record_verify, name="record-verify"),
    path("records/safeguarding/", actions.safeguarding, name="safeguarding"),
    path("records/flags/<uuid:code>/resolve/", actions.flag_resolve, name="flag-resolve"),
    path("records/decisions/<uuid:code>/confirm/", actions.decision_confirm_view, name="decision-confirm"),
    path("records/templates/", templates.template_list, name="template-list"),
    path("records/templates/new/", templates.template_add, name="template-add"),
    path("records/templates/defaults/", templates.template_defaults, name="template-defaults"),
    path("records/templates/<uuid:code>/", templates.template_edit, name="template-edit"),
    path("records/<uuid:code>/", records.record_detail, name="record-detail"),
    path("records/<uuid:code>/pdf", pdf.record_pdf, name="record-pdf"),
    path("records/<uuid:code>/sections/<int:section_id>/", records.section_save_view, name="section-save"),
    path("records/<uuid:code>/review/", records.record_review_view, name="record-review"),
    path("records/<uuid:code>/actions/", records.action_add_view, name="action-add"),
    path("records/<uuid:code>/actions/<uuid:action>/delete/", records.action_remove_view, name="action-remove"),
    path(
        "records/<uuid:code>/previous-actions/<uuid:action>/",
        records.previous_action_review_view,
        name="previous-action-review",
    ),
    path("records/<uuid:code>/decisions/", records.decision_add_view, name="decision-add"),
    path("records/<uuid:code>/decisions/<uuid:decision>/delete/", records.decision_remove_view, name="decision-remove"),
    path("records/<uuid:code>/flags/", records.flag_raise_view, name="flag-raise"),
    path("records/<uuid:code>/submit/", records.record_submit_view, name="record-submit"),
    path("records/<uuid:code>/reopen/", records.record_reopen_view, name="record-reopen"),
    path("records/<uuid:code>/sign/", records.record_sign_view, name="record-sign"),
    path("records/<uuid:code>/comment/", records.record_comment_view, name="record-comment"),
    path("records/<uuid:code>/rationale/", records.record_rationale_view, name="record-rationale"),
    path("records/<uuid:code>/feedback/", records.record_feedback_view, name="record-feedback"),
    path("records/<uuid:code>/addenda/", records.addendum_add_view, name="addendum-add"),
    path("records/<uuid:code>/addenda/<uuid:addendum>/sign/", records.addendum_sign_view, name="addendum-sign"),
    path("records/<uuid:code>/access/", oversight.record_access, name="record-access"),
    path("records/grants/", oversight.grant_list, name="grant-list"),
    path("records/grants/new/", oversight.grant_add, name="grant-add"),
    path("records/grants/<uuid:code>/revoke/", oversight.grant_revoke, name="grant-revoke"),
    path("exports/", exports.export_list, name="export-list"),
    path("exports/<uuid:code>/", exports.export_status, name="export-status"),
    path("exports/<uuid:code>/download", exports.export_download, name="export-download"),
    path("actions/", actions.action_list, name="action-list"),
    path("actions/<uuid:code>/done/", actions.action_done, name="action-done"),
]
