"""The forms of the moderation steps: a reason, always; more for a clean-up."""

from django import forms


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Recorded in the moderation log with your name and the time.",
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason


class CleanUpAuthorForm(ReasonForm):
    since = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Optional: only messages sent at or after this time (UTC).",
    )
    until = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Optional: only messages sent before this time (UTC).",
    )
    delete = forms.BooleanField(required=False, label="Delete them instead of hiding them (cannot be undone)")

    def __init__(self, *args, may_delete=False, **kwargs):
        super().__init__(*args, **kwargs)
        if not may_delete:
            del self.fields["delete"]

    # The window's own rule (since before until) is the selection's
    # (convoproject.moderation.selection), checked by the admin view with it.
    SELECTION_FIELDS = {"sent_after": "since", "sent_before": "until"}

    def add_selection_errors(self, errors):
        """The selection's errors, on this form's fields."""
        for name, messages in errors.items():
            for message in messages:
                self.add_error(self.SELECTION_FIELDS.get(name), message)
