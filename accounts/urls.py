from django.contrib.auth import views as auth_views
from django.urls import path

from . import (
    views,
    views_audit,
    views_email,
    views_import,
    views_oidc,
    views_organisation,
    views_passkeys,
    views_pickers,
    views_security,
)

app_name = "accounts"

urlpatterns = [
    path("accounts/login/", views.SignInView.as_view(), name="login"),
    path("accounts/login/code/", views_security.sign_in_code, name="login-code"),
    path("accounts/oidc/<slug:provider>/start/", views_oidc.oidc_start, name="oidc-start"),
    path("accounts/oidc/<slug:provider>/callback/", views_oidc.oidc_callback, name="oidc-callback"),
    path("accounts/logout/", views.sign_out, name="logout"),
    path("accounts/security/", views_security.security, name="security"),
    path("accounts/security/authenticator/", views_security.security_authenticator, name="security-authenticator"),
    path("accounts/security/recovery-codes/", views_security.security_recovery_codes, name="security-recovery-codes"),
    # Passkeys: django-otp-webauthn's own URLs are not mounted (accounts/views_passkeys.py says why).
    path("accounts/login/passkey/begin/", views_passkeys.sign_in_passkey_begin, name="login-passkey-begin"),
    path("accounts/login/passkey/complete/", views_passkeys.sign_in_passkey_complete, name="login-passkey-complete"),
    path("accounts/security/passkeys/add/", views_passkeys.security_passkey_add, name="security-passkey-add"),
    path("accounts/security/passkeys/added/", views_passkeys.security_passkey_added, name="security-passkey-added"),
    path("accounts/security/passkeys/remove/", views_passkeys.security_passkey_remove, name="security-passkey-remove"),
    path(
        "accounts/security/passkeys/register/begin/",
        views_passkeys.passkey_register_begin,
        name="passkey-register-begin",
    ),
    path(
        "accounts/security/passkeys/register/complete/",
        views_passkeys.passkey_register_complete,
        name="passkey-register-complete",
    ),
    path("accounts/passkey/confirm/begin/", views_passkeys.passkey_confirm_begin, name="passkey-confirm-begin"),
    path(
        "accounts/passkey/confirm/complete/",
        views_passkeys.passkey_confirm_complete,
        name="passkey-confirm-complete",
    ),
    path("staff/sign-in-rule/", views_security.second_factor_rule, name="second-factor-rule"),
    path("staff/sign-in-rule/providers/", views_security.identity_providers, name="identity-providers"),
    path("accounts/password-reset/", views.PasswordResetView.as_view(), name="password-reset"),
    path(
        "accounts/password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password-reset-done",
    ),
    path("accounts/reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password-reset-confirm"),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="accounts/password_reset_complete.html"),
        name="password-reset-complete",
    ),
    path("accounts/invitation/<uidb64>/<token>/", views.InvitationView.as_view(), name="invitation"),
    path("accounts/password/", views.PasswordChangeView.as_view(), name="password-change"),
    path("accounts/email/", views_email.email_change_mine, name="email-change"),
    path("accounts/email/confirm/<str:token>/", views_email.email_change_confirm_link, name="email-change-confirm"),
    path("accounts/email/verify/<str:token>/", views_email.email_change_verify_link, name="email-change-verify"),
    path("audit/", views_audit.audit_list, name="audit-list"),
    path("organisation/", views_organisation.organisation_settings, name="organisation-settings"),
    path("organisation/logo/<str:digest>", views_organisation.organisation_logo, name="organisation-logo"),
    path("organisation/settings/", views_organisation.setting_list, name="setting-list"),
    path("organisation/settings/add/", views_organisation.setting_add, name="setting-add"),
    path("organisation/settings/<uuid:code>/", views_organisation.setting_edit, name="setting-edit"),
    path("organisation/settings/<uuid:code>/close/", views_organisation.setting_close_view, name="setting-close"),
    path("people/search/<slug:picker>/", views_pickers.person_search, name="person-search"),
    path("staff/", views.staff_list, name="staff-list"),
    path("staff/add/", views.staff_add, name="staff-add"),
    path("staff/import/", views.staff_import_view, name="staff-import"),
    path("staff/import/sample.csv", views.staff_import_sample, name="staff-import-sample"),
    path("staff/import/jobs/<uuid:code>/", views_import.staff_import_job, name="staff-import-job"),
    path("staff/import/jobs/<uuid:code>/status/", views_import.staff_import_job_status, name="staff-import-job-status"),
    path(
        "staff/import/jobs/<uuid:code>/retry/", views_import.staff_import_job_retry_view, name="staff-import-job-retry"
    ),
    path("staff/<uuid:code>/", views.staff_edit, name="staff-edit"),
    path("staff/<uuid:code>/leaver/", views.staff_leaver, name="staff-leaver"),
    path("staff/<uuid:code>/roles/", views.staff_roles, name="staff-roles"),
    path("staff/<uuid:code>/invite/", views.staff_invite_view, name="staff-invite"),
    path("staff/<uuid:code>/legal-hold/", views.staff_legal_hold, name="staff-legal-hold"),
    path("staff/<uuid:code>/email-change/", views_email.staff_email_change, name="staff-email-change"),
    path(
        "staff/<uuid:code>/second-factor/reset/",
        views_security.staff_second_factor_reset,
        name="staff-second-factor-reset",
    ),
]
