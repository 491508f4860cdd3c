"""Input validation, and the documented shape of every answer (the OpenAPI schema is built from these)."""

from __future__ import annotations

import copy
import re

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from reputation.models import Status
from votes.models import Reason
from votes.platforms import PLATFORM_CHOICES


class StrictCharField(serializers.CharField):
    """JSON strings only: DRF would turn 123 or true into "123"/"True", which the schema does not allow."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictRegexField(StrictCharField, serializers.RegexField):
    pass


class VoteValueField(serializers.ChoiceField):
    """1 or -1 as JSON integers (not "1", not true)."""

    def __init__(self, **kwargs):
        super().__init__(choices=[(1, "good post"), (-1, "poor post")], **kwargs)

    def to_internal_value(self, data):
        if type(data) is not int:
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class InputSerializer(serializers.Serializer):
    """Validates one request's input. DRF deep-copies every declared field per serializer instance, which
    re-runs each field's __init__: 0.1 ms of a vote's CPU. These fields hold no per-request state beyond
    what bind() sets on the copy, so a shallow copy is enough."""

    def get_fields(self):
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}


MAX_GET_HANDLES = 100
MAX_POST_HANDLES = 1000


class AuthorSerializer(serializers.Serializer):
    platform = serializers.ChoiceField(choices=PLATFORM_CHOICES)
    handle = serializers.CharField()
    url = serializers.URLField(help_text="The author's page on this site.")
    score = serializers.FloatField(help_text="0-100; what rankings use.")
    low = serializers.FloatField(help_text="Lower end of the 90% interval.")
    high = serializers.FloatField(help_text="Upper end of the 90% interval.")
    status = serializers.ChoiceField(choices=Status.choices)
    votes = serializers.IntegerField()
    upvotes = serializers.IntegerField()
    downvotes = serializers.IntegerField()
    voters = serializers.IntegerField()
    effective_voters = serializers.FloatField(help_text="Independent voters after credibility weighting.")
    solicited_share = serializers.FloatField(
        min_value=0, max_value=1,
        help_text="Share (0-1) of the author's votes cast on posts Merit picked for the voter (\"Rate next\"): "
        "a random sample no voter chose, which coordinated accounts cannot aim.",
    )
    percentile = serializers.FloatField(allow_null=True)
    follower_count = serializers.IntegerField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)
    explanation = serializers.DictField(help_text="How the engine arrived at the score (free-form).")


class AuthorBatchSerializer(serializers.Serializer):
    platform = serializers.CharField()
    results = serializers.DictField(
        child=AuthorSerializer(allow_null=True), help_text="Keyed by lower-cased handle; null for unknown handles."
    )


class HistoryPointSerializer(serializers.Serializer):
    day = serializers.DateField()
    score = serializers.FloatField()
    low = serializers.FloatField()
    high = serializers.FloatField()
    votes = serializers.IntegerField()
    note = serializers.CharField(allow_blank=True, help_text="Why the score moved that day, if the engine says so "
                                 "(e.g. a correction after a coordinated group was detected); usually empty.")


class HistorySerializer(serializers.Serializer):
    platform = serializers.CharField()
    handle = serializers.CharField()
    points = HistoryPointSerializer(many=True)


class PostSerializer(serializers.Serializer):
    platform = serializers.CharField()
    post_id = serializers.CharField()
    author = serializers.CharField()
    url = serializers.URLField()
    quality = serializers.FloatField(allow_null=True, help_text="0-100; null until scored.")
    upvotes = serializers.IntegerField()
    downvotes = serializers.IntegerField()
    my_vote = serializers.IntegerField(allow_null=True, help_text="1, -1, or null (no vote, or anonymous).")


class VoteSerializer(serializers.Serializer):
    platform = serializers.CharField()
    post_id = serializers.CharField()
    author = serializers.CharField()
    value = serializers.IntegerField()
    reason = serializers.CharField(allow_blank=True)
    solicited = serializers.BooleanField(
        help_text="True when Merit had picked this post for you (\"Rate next\") when you cast the vote. "
        "Set by the server only."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RateNextPostSerializer(serializers.Serializer):
    platform = serializers.CharField()
    post_id = serializers.CharField()
    author = serializers.CharField()
    url = serializers.URLField()
    quality = serializers.FloatField(allow_null=True, help_text="0-100; null until scored.")
    upvotes = serializers.IntegerField()
    downvotes = serializers.IntegerField()
    expires_at = serializers.DateTimeField(help_text="A vote cast before this counts as solicited.")


class RateNextSerializer(serializers.Serializer):
    about = serializers.CharField(help_text="Why Merit picked these posts, in plain words.")
    page_url = serializers.URLField(help_text="The same queue on the site.")
    results = RateNextPostSerializer(many=True, help_text="Oldest pick first; fewer (or none) when little is left to rate.")


def _handle_list(values: list[str]) -> list[str]:
    """Lower-cased, de-duplicated, without '@'; empty items are skipped."""
    cleaned = [h.strip().lstrip("@").lower() for h in values]
    return list(dict.fromkeys(filter(None, cleaned)))


_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_surrogates(value: str) -> None:
    # DRF's own check walks the string in a Python generator: 0.4 ms for a 100-handle batch, per request.
    found = _SURROGATE.search(value)
    if found:
        raise DjangoValidationError(f"Surrogate characters are not allowed: U+{ord(found.group()):X}.")


class FastRegexField(serializers.RegexField):
    """A RegexField whose surrogate check runs in C (set at construction, so every copy of the field has it)."""

    def __init__(self, regex, **kwargs):
        super().__init__(regex, **kwargs)
        self.validators = [
            _no_surrogates if isinstance(v, ProhibitSurrogateCharactersValidator) else v for v in self.validators
        ]


def comma_list(name: str, limit: int, *, hint: str = "", **kwargs) -> serializers.RegexField:
    """A comma-separated list whose first item is non-empty, at most `limit` items (schema and server agree)."""
    return FastRegexField(
        regex=rf"^\s*@?[^,\s@][^,]*(,[^,]*){{0,{limit - 1}}}$",
        help_text=f"Comma-separated {name}, at most {limit}.",
        error_messages={"invalid": f"Give 1 to {limit} comma-separated {name}.{hint}"},
        **kwargs,
    )


class BatchQuerySerializer(InputSerializer):
    platform = serializers.ChoiceField(choices=PLATFORM_CHOICES, default="x")
    handles = comma_list("handles", MAX_GET_HANDLES, hint=" Use POST /api/v1/authors/lookup for larger batches.")

    def validate_handles(self, value: str) -> list[str]:
        return _handle_list(value.split(","))


class LookupSerializer(InputSerializer):
    platform = serializers.ChoiceField(choices=PLATFORM_CHOICES, default="x")
    handles = serializers.ListField(
        child=StrictRegexField(regex=r"^\s*@?[^\s@]", max_length=253), min_length=1, max_length=MAX_POST_HANDLES
    )

    def validate_handles(self, value: list[str]) -> list[str]:
        return _handle_list(value)


class HistoryQuerySerializer(InputSerializer):
    days = serializers.IntegerField(min_value=1, max_value=365, default=90)


class PlatformQuerySerializer(InputSerializer):
    platform = serializers.ChoiceField(choices=PLATFORM_CHOICES, default="x")


class SearchQuerySerializer(PlatformQuerySerializer):
    q = serializers.CharField(min_length=1, max_length=253, help_text="Handle prefix, case-insensitive.")


class MyVotesQuerySerializer(InputSerializer):
    platform = serializers.ChoiceField(choices=PLATFORM_CHOICES, required=False)
    post_ids = comma_list("post ids", 100, required=False)

    def validate_post_ids(self, value: str) -> list[str]:
        return list(dict.fromkeys(p.strip() for p in value.split(",") if p.strip()))


class VoteInputSerializer(InputSerializer):
    url = StrictCharField(required=False, max_length=500, help_text="A post URL, e.g. https://x.com/h/status/1")
    platform = serializers.ChoiceField(choices=PLATFORM_CHOICES, required=False)
    post_id = StrictCharField(required=False, max_length=64, help_text="A string: X ids exceed 2^53.")
    author = StrictCharField(required=False, max_length=253, help_text="The post author's handle.")
    value = VoteValueField()
    reason = serializers.ChoiceField(choices=Reason.choices, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if "solicited" in self.initial_data:
            # Refused rather than ignored, so a client that thinks it can set it learns otherwise.
            raise serializers.ValidationError(
                {"solicited": ["Merit sets this itself: a vote is solicited only on a post GET /api/v1/rate-next gave you."]}
            )
        if not attrs.get("url") and not all(attrs.get(k) for k in ("platform", "post_id", "author")):
            raise serializers.ValidationError("Give either `url`, or `platform`, `post_id` and `author`.")
        return attrs


class ChangesQuerySerializer(InputSerializer):
    since = serializers.RegexField(
        r"^[0-9]{1,18}$", required=False, default="0",
        help_text="The `cursor` of the previous answer; leave out (or 0) to start from the first change.",
        error_messages={"invalid": "A cursor from a previous answer (digits)."},
    )
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)
    platform = serializers.ChoiceField(choices=PLATFORM_CHOICES, required=False, help_text="Only this platform.")


class ChangeSerializer(serializers.Serializer):
    cursor = serializers.CharField(help_text="This change's place in the feed (opaque).")
    changed_at = serializers.DateTimeField()
    author = AuthorSerializer()


class ChangesSerializer(serializers.Serializer):
    results = ChangeSerializer(many=True, help_text="Oldest change first.")
    cursor = serializers.CharField(help_text="Pass as `since` next time (the same cursor when nothing changed).")
    next = serializers.URLField(allow_null=True, help_text="The next page now, if more changes are waiting.")
