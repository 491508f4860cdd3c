"""Input validation, and the documented shape of every answer (the OpenAPI schema is built from these)."""

from __future__ import annotations

import copy
import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import ProhibitNullCharactersValidator, RegexValidator
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from reputation.models import Status
from votes.models import PreviewStatus, Reason
from votes.platforms import (
    HANDLE_PATTERN,
    PLATFORM_CHOICES,
    POST_ID_PATTERN,
    POST_URL_PATTERN,
    PostURLError,
    match_post_url,
)
from votes.previews import EXTENSION_TEXT_MAX


class StrictCharField(serializers.CharField):
    """JSON strings only, checked as sent: DRF would turn 123 or true into "123"/"True", and strip what
    Python calls whitespace (\x1c-\x1f among it) before validating, so the schema's pattern would not be
    what the server checks."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_surrogates(value: str) -> None:
    # DRF's own check walks the string in a Python generator: 0.4 ms for a 100-handle batch, per request.
    found = _SURROGATE.search(value)
    if found:
        raise DjangoValidationError(f"Surrogate characters are not allowed: U+{ord(found.group()):X}.")


class PatternField(StrictCharField):
    """A string that matches one published pattern (see votes.platforms for how they are written).

    The patterns leave out NUL, so DRF's check for it goes; its check for lone surrogates (which are not
    text) runs as one regex search instead of a Python loop over every character."""

    def __init__(self, pattern: str, *, message: str = "", validator: RegexValidator | None = None, **kwargs):
        super().__init__(**kwargs)
        self.validators = [
            _no_surrogates if isinstance(v, ProhibitSurrogateCharactersValidator) else v
            for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)
        ]
        self.validators.append(validator or RegexValidator(pattern, message=message or None))


class PostURLValidator(RegexValidator):
    """The post-link grammar (published as the pattern), refusing with what is wrong with the link."""

    def __init__(self):
        super().__init__(POST_URL_PATTERN)

    def __call__(self, value):
        try:
            match_post_url(value)
        except PostURLError as exc:
            raise DjangoValidationError(str(exc), code="invalid") from None


class QueryIntegerField(serializers.IntegerField):
    """A whole number written in digits (DRF's int() would also take ' 5', '5.0', '1_0' and Arabic-Indic digits)."""

    def to_internal_value(self, data):
        if isinstance(data, str) and not (data.removeprefix("-").isascii() and data.removeprefix("-").isdigit()):
            self.fail("invalid")
        return super().to_internal_value(data)


class VoteValueField(serializers.ChoiceField):
    """1 or -1 as JSON numbers (not "1", not true; 1.0 is the same number as 1)."""

    def __init__(self, **kwargs):
        super().__init__(choices=[(1, "good post"), (-1, "poor post")], **kwargs)

    def to_internal_value(self, data):
        if type(data) is float and data in (1.0, -1.0):
            data = int(data)
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
    verified = serializers.BooleanField(
        help_text="True when a Merit account proved it controls this handle (it posted a one-time code from it). "
        "Unproved claims are not shown and count for nothing."
    )
    verified_since = serializers.DateTimeField(allow_null=True, help_text="When that proof was accepted; null if none.")


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


class PreviewSerializer(serializers.Serializer):
    text = serializers.CharField(
        allow_blank=True, help_text="The post's text, plain (platform HTML reduced to text); empty when unknown, deleted or private."
    )
    author_name = serializers.CharField(allow_blank=True, help_text="The author's display name on the platform.")
    created_at = serializers.DateTimeField(allow_null=True, help_text="When the post was published.")
    fetched_at = serializers.DateTimeField(allow_null=True, help_text="When the platform last answered for it.")
    status = serializers.ChoiceField(
        choices=PreviewStatus.choices,
        help_text="`ok`: fetched; `pending`: not yet; `failed`: the platform did not answer (retried with backoff); "
        "`deleted` / `private`: the platform says the post is gone or hidden (no text); `from_extension`: text as "
        "seen by a voter's browser extension, not yet confirmed by a fetch.",
    )
    image_url = serializers.URLField(allow_null=True, help_text="The post's first image on the platform, if any.")


class _PostFields(serializers.Serializer):
    platform = serializers.CharField()
    post_id = serializers.CharField()
    author = serializers.CharField()
    url = serializers.URLField()
    quality = serializers.FloatField(allow_null=True, help_text="0-100; null until scored.")
    upvotes = serializers.IntegerField()
    downvotes = serializers.IntegerField()
    preview = PreviewSerializer(allow_null=True, help_text="What the post says; null for posts registered before previews.")


class PostSerializer(_PostFields):
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


class RateNextPostSerializer(_PostFields):
    expires_at = serializers.DateTimeField(help_text="A vote cast before this counts as solicited.")


class RateNextSerializer(serializers.Serializer):
    about = serializers.CharField(help_text="Why Merit picked these posts, in plain words.")
    page_url = serializers.URLField(help_text="The same queue on the site.")
    results = RateNextPostSerializer(many=True, help_text="Oldest pick first; fewer (or none) when little is left to rate.")


def _handle_list(values: list[str]) -> list[str]:
    """Lower-cased, de-duplicated, without '@'; empty items are skipped."""
    cleaned = [h.strip().lstrip("@").lower() for h in values]
    return list(dict.fromkeys(filter(None, cleaned)))


# A looked-up handle: the characters of X and Bluesky handles and DIDs and of Mastodon's user@instance, with
# an optional leading @ and at least one character that is not one (a lone "@" names no one). An optional @
# then one class: a list of them cannot make the regex backtrack. Unknown handles answer null.
LOOKUP_HANDLE = "@?[A-Za-z0-9_.:-][A-Za-z0-9_.:@-]{0,253}"
# X ids (digits), Bluesky record keys, Mastodon's instance:status-id (instances lower-cased, as stored).
LOOKUP_POST_ID = "[a-z0-9.:-]{1,255}"


def comma_list(name: str, item: str, limit: int, *, hint: str = "", **kwargs) -> PatternField:
    """Up to `limit` comma-separated items, the first one non-empty, spaces allowed around each."""
    return PatternField(
        rf"\A *{item} *(?:, *(?:{item})? *){{0,{limit - 1}}}\Z",
        help_text=f"Comma-separated {name}, at most {limit}.",
        message=f"Give 1 to {limit} comma-separated {name}.{hint}",
        **kwargs,
    )


class BatchQuerySerializer(InputSerializer):
    platform = serializers.ChoiceField(choices=PLATFORM_CHOICES, default="x")
    handles = comma_list(
        "handles (letters, digits and _ . : - and @)", LOOKUP_HANDLE, MAX_GET_HANDLES,
        hint=" Use POST /api/v1/authors/lookup for larger batches.",
    )

    def validate_handles(self, value: str) -> list[str]:
        return _handle_list(value.split(","))


class LookupSerializer(InputSerializer):
    platform = serializers.ChoiceField(choices=PLATFORM_CHOICES, default="x")
    handles = serializers.ListField(
        child=PatternField(
            rf"\A{LOOKUP_HANDLE}\Z", message="A handle: letters, digits and _ . : - (and @, as in Mastodon's user@instance)."
        ),
        min_length=1, max_length=MAX_POST_HANDLES,
    )

    def validate_handles(self, value: list[str]) -> list[str]:
        handles = _handle_list(value)
        if not handles:  # the pattern admits a lone "@" (one character class, no backtracking)
            raise serializers.ValidationError("Give at least one handle, for example \"alice\" or \"ada@mastodon.social\".")
        return handles


class HistoryQuerySerializer(InputSerializer):
    days = QueryIntegerField(min_value=1, max_value=365, default=90)


class PlatformQuerySerializer(InputSerializer):
    platform = serializers.ChoiceField(choices=PLATFORM_CHOICES, default="x")


class SearchQuerySerializer(PlatformQuerySerializer):
    q = PatternField(
        rf"\A{LOOKUP_HANDLE}\Z", help_text="Handle prefix, case-insensitive.",
        message="A handle prefix: letters, digits and _ . : - and @.",
    )


class MyVotesQuerySerializer(InputSerializer):
    platform = serializers.ChoiceField(choices=PLATFORM_CHOICES, required=False)
    post_ids = comma_list("post ids", LOOKUP_POST_ID, 100, required=False)

    def validate_post_ids(self, value: str) -> list[str]:
        return list(dict.fromkeys(p.strip() for p in value.split(",") if p.strip()))


POST_REFERENCES = ("platform", "post_id", "author")


class VoteInputSerializer(InputSerializer):
    url = PatternField(
        POST_URL_PATTERN, validator=PostURLValidator(), required=False, max_length=500,
        help_text="A post's link, e.g. https://x.com/name/status/123, "
        "https://bsky.app/profile/name.bsky.social/post/abc123 (or /profile/did:plc:.../post/...) or a Mastodon "
        "instance's https://mastodon.social/@name/123 (also /@name@other.instance/123, /users/name/statuses/123). "
        "Links that do not name the author (x.com/i/status/123) are refused.",
    )
    platform = serializers.ChoiceField(choices=PLATFORM_CHOICES, required=False)
    post_id = PatternField(
        POST_ID_PATTERN, required=False,
        message="A post id: X ids are digits, Bluesky ids lower-case letters and digits, Mastodon ids "
        "instance:digits.",
        help_text="A string (X ids exceed 2^53): digits on X, a record key on Bluesky, instance:status-id on "
        "Mastodon (e.g. mastodon.social:109876543210).",
    )
    author = PatternField(
        HANDLE_PATTERN, required=False, message="Not a handle on any supported platform.",
        help_text="The post author's handle (X), handle or DID (Bluesky), or user@instance (Mastodon).",
    )
    value = VoteValueField()
    reason = serializers.ChoiceField(choices=Reason.choices, required=False, allow_blank=True, default="")
    text = StrictCharField(
        required=False, allow_blank=True, max_length=EXTENSION_TEXT_MAX,
        help_text=f"The post's visible text as your client shows it (at most {EXTENSION_TEXT_MAX} characters). Shown, "
        "marked as unconfirmed, only until Merit fetches the post from its platform.",
    )

    def validate(self, attrs):
        if "solicited" in self.initial_data:
            # Refused rather than ignored, so a client that thinks it can set it learns otherwise.
            raise serializers.ValidationError(
                {"solicited": ["Merit sets this itself: a vote is solicited only on a post GET /api/v1/rate-next gave you."]}
            )
        by_url, by_id = "url" in attrs, [k for k in POST_REFERENCES if k in attrs]
        one_way = (by_url and not by_id) or (not by_url and len(by_id) == len(POST_REFERENCES))
        if not one_way:
            raise serializers.ValidationError("Give either `url`, or `platform`, `post_id` and `author` (not both).")
        return attrs


class ChangesQuerySerializer(InputSerializer):
    since = PatternField(
        r"\A[0-9]{1,18}\Z", required=False, default="0", message="A cursor from a previous answer (digits).",
        help_text="The `cursor` of the previous answer; leave out (or 0) to start from the first change.",
    )
    limit = QueryIntegerField(min_value=1, max_value=1000, default=100)
    platform = serializers.ChoiceField(choices=PLATFORM_CHOICES, required=False, help_text="Only this platform.")


class ChangeSerializer(serializers.Serializer):
    cursor = serializers.CharField(help_text="This change's place in the feed (opaque).")
    changed_at = serializers.DateTimeField()
    author = AuthorSerializer()


class ChangesSerializer(serializers.Serializer):
    results = ChangeSerializer(many=True, help_text="Oldest change first.")
    cursor = serializers.CharField(help_text="Pass as `since` next time (the same cursor when nothing changed).")
    next = serializers.URLField(allow_null=True, help_text="The next page now, if more changes are waiting.")
