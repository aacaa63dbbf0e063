from django import forms

from accounts.validators import TextForm

from .dashboard import half_term_name


class DashboardFilterForm(TextForm):
    """Which half term, and (for people who cover several settings) which setting.

    Choices come from lists the view already holds, so validating costs no query. A value that is
    not a choice (an old bookmark, a setting outside the person's reach) falls back to the default.
    """

    half_term = forms.ChoiceField(
        label="Half term", required=False, widget=forms.Select(attrs={"class": "form-select"})
    )
    setting = forms.ChoiceField(label="Setting", required=False, widget=forms.Select(attrs={"class": "form-select"}))

    def __init__(self, data=None, *, half_terms, settings, default_half_term):
        super().__init__(data)
        self._half_terms = {str(h.code): h for h in half_terms}
        self._settings = {str(s.code): s for s in settings}
        self._default = default_half_term
        self.fields["half_term"].choices = [
            (str(h.code), half_term_name(h)) for h in sorted(half_terms, key=lambda h: h.starts, reverse=True)
        ]
        self.fields["half_term"].initial = str(default_half_term.code)
        if len(settings) > 1:
            self.fields["setting"].choices = [("", "All settings")] + [(str(s.code), s.name) for s in settings]
        else:
            del self.fields["setting"]

    def chosen(self):
        """(half term, setting or None for all the person's settings)."""
        data = {}
        if self.is_bound:
            self.is_valid()  # cleaned_data keeps the fields that are valid
            data = self.cleaned_data
        half_term = self._half_terms.get(data.get("half_term") or "", self._default)
        setting = self._settings.get(data.get("setting") or "")
        return half_term, setting
