"""Forms of the web UI. They only validate shape; business rules live in votes.services."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm


class SignUpForm(UserCreationForm):
    # Django's "A user with that username already exists." tells anyone which accounts exist. A name
    # that is taken must still be refused; this says so without saying why, and abuse.signup_wait
    # limits how fast anyone can ask (per address and per username).
    UNAVAILABLE = "This username is not available. Please choose another."

    class Meta(UserCreationForm.Meta):
        fields = ("username",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update({"autofocus": True, "autocomplete": "username"})
        self.fields["username"].help_text = "Up to 150 letters, digits and @ . + - _"
        # Django's validator list is long; one line says the same.
        self.fields["password1"].help_text = "At least 8 characters, not all digits, not a common password."

    def clean_username(self):
        username = self.cleaned_data.get("username")
        if username and self._meta.model.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(self.UNAVAILABLE, code="unavailable")
        return username


class PostURLForm(forms.Form):
    url = forms.CharField(
        label="Post link",
        max_length=500,
        widget=forms.TextInput(
            attrs={"placeholder": "https://x.com/someone/status/1790000000000000000", "autocomplete": "off",
                   "inputmode": "url", "spellcheck": "false"}
        ),
    )


class VoteForm(forms.Form):
    """`value` stays a free string so vote_cast can refuse anything but ±1 with its own message."""

    value = forms.CharField(required=False, max_length=8)
    reason = forms.CharField(required=False, max_length=32)
    retract = forms.BooleanField(required=False)

    def clean(self):
        super().clean()
        data = self.cleaned_data  # what Form.clean returns (typed Optional for subclasses that return None)
        if not data.get("retract") and not data.get("value"):
            raise forms.ValidationError("Choose up or down.")
        return data
