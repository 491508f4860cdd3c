"""Presentation helpers: compact numbers, score colours, the interval bar and the history chart."""

from __future__ import annotations

from collections.abc import Sequence

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from reputation.models import Status
from votes.models import Reason

register = template.Library()


@register.filter
def compact(value) -> str:
    """12345 -> '12.3k': follower counts are shown for scale, not precision."""
    if value is None or value == "":
        return ""
    n = float(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= limit:
            text = f"{n / limit:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return f"{int(n)}"


@register.filter
def tone(rep) -> str:
    """CSS tone of a reputation: good / mixed / poor, or none when there is too little data."""
    if rep is None or getattr(rep, "status", Status.INSUFFICIENT) == Status.INSUFFICIENT:
        return "none"
    score = rep.score if hasattr(rep, "score") else float(rep)
    return "good" if score >= 65 else "poor" if score < 40 else "mixed"


@register.filter
def quality_tone(score) -> str:
    if score is None:
        return "none"
    return "good" if score.quality >= 65 else "poor" if score.quality < 40 else "mixed"


@register.filter
def status_label(status: str) -> str:
    return Status(status).label if status in Status.values else status.replace("_", " ").capitalize()


@register.filter
def reason_label(reason: str) -> str:
    return Reason(reason).label if reason in Reason.values else ""


@register.simple_tag
def reasons() -> list[tuple[str, str]]:
    return list(Reason.choices)


@register.inclusion_tag("votes/partials/score_bar.html")
def score_bar(rep, compact: bool = False) -> dict:
    """A 0-100 track with the 90% interval shaded and the score marked."""
    low, high, score = (max(0.0, min(100.0, float(v))) for v in (rep.low, rep.high, rep.score))
    return {"rep": rep, "low": low, "width": max(high - low, 0.8), "score": score, "compact": compact}


def _n(count: int, word: str, plural: str = "") -> str:
    """'1 vote', '52 votes', '1,204 votes'."""
    return f"{count:,} {word if count == 1 else plural or word + 's'}"


def _worth(amount: float) -> str:
    """A weight in votes, as a person would say it: 'less than one vote', 'about 3 votes'."""
    if amount < 0.95:
        return "less than one vote"
    return f"about {_n(_half_up(amount), 'vote')}"


def _half_up(x: float) -> int:
    """12.5 -> 13, as people round (Python's round() gives 12)."""
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


# Engine keys (reputation/engine/merit.py explanation["discounted"]) in plain words; the API keeps the keys.
_DISCOUNTED = {
    "new_or_low_credibility_accounts": "came from new accounts, or accounts that have not earned weight yet",
    "large_groups": "came from a large group of accounts that vote alike, which counts for less",
    "collapsed_groups": "came from accounts that vote alike, which count together as one voice",
    "group_votes_on_own_members": "came from a group of accounts rating its own members",
    "per_voter_cap": "came from one person rating many of these posts: no one person's say on an author is unlimited",
    "per_group_cap": "came from one group of like-voting accounts rating many of these posts: a group's say is limited too",
}


@register.simple_tag
def explanation_lines(explanation: dict | None) -> list[str]:
    """AuthorReputation.explanation in plain sentences. Parts without words here are left out: the page
    is for people, and the API has every key."""
    if not explanation:
        return []
    lines: list[str] = []
    data = dict(explanation)
    votes, voters = data.get("votes"), data.get("voters")
    if votes is not None and voters is not None:
        lines.append(f"{_n(votes, 'vote')} from {_n(voters, 'person', 'people')}.")
    voices, groups = data.get("independent_voices"), data.get("groups")
    if voices is not None and groups:
        lines.append(f"Some of them vote so alike that Merit counts them together: {_n(voices, 'independent voice')} in all.")
    n_eff = data.get("effective_voters")
    if n_eff is not None:
        people = "less than one person" if n_eff < 0.95 else f"about {_n(_half_up(n_eff), 'unrelated person', 'unrelated people')}"
        lines.append(f"Together that is as much evidence as {people} with full weight.")
    for key, amount in (data.get("discounted") or {}).items():
        if amount and amount >= 0.5 and key in _DISCOUNTED:  # smaller amounts are noise to a reader
            lines.append(f"{_worth(amount).capitalize()} held back: they {_DISCOUNTED[key]}.")
    coordinated = data.get("coordinated_discount") or {}
    if coordinated.get("share_of_votes"):
        share = coordinated["share_of_votes"] * 100
        lines.append(f"{share:.0f}% of the votes came from a coordinated group Merit detected, and were set aside.")
    sides = data.get("viewpoint_sides_up_share")
    if isinstance(sides, list) and len(sides) == 2 and all(sides):
        lines.append(f"People who usually disagree were asked the same question: {sides[0] * 100:.0f}% of one side "
                     f"and {sides[1] * 100:.0f}% of the other rated these posts good.")
    pool = data.get("unproven_pool") or {}
    if pool.get("held_back"):
        lines.append(
            f"{_worth(pool['held_back']).capitalize()} from accounts without a record of good early calls held back: "
            "together, such accounts can add only so much to any author, however many of them vote."
        )
    solicited = data.get("solicited") or {}
    if solicited.get("votes"):
        n = solicited["votes"]
        lines.append(f"{_n(n, 'vote')} came from people Merit asked to rate these posts (Rate next), which no one can steer.")
        held = solicited.get("held_points") or 0
        if abs(held) >= 1:
            way = "lower" if held > 0 else "higher"
            lines.append(f"The other votes say {abs(held):.0f} points {'more' if held > 0 else 'less'} than the people Merit "
                         f"asked would support, so the score stays {way}, where those asked put it.")
    prior = data.get("prior_votes")
    if prior is not None:
        lines.append(
            f"Every author starts at 50, as if with {_n(_half_up(prior), 'neutral vote')}, so a handful of votes cannot move the score far."
        )
    return lines


@register.simple_tag
def history_changes(points: Sequence, limit: int = 10) -> list[dict]:
    """Days worth listing under the chart, newest first: the score moved by a point or more since the day
    before, or a correction was made. A flat day (or a note that only says how the row was made, such as
    seed_demo's backfill) is not news."""
    rows: list[dict] = []
    previous = None
    for point in points:
        correction = point.note if point.note.startswith("Correction") else ""
        moved = previous is not None and abs(point.score - previous.score) >= 1.0
        if moved or correction:
            rows.append({
                "day": point.day, "score": point.score, "delta": point.score - previous.score if previous else 0.0,
                "votes": point.votes, "new_votes": point.votes - previous.votes if previous else 0,
                "correction": correction,
            })
        previous = point
    return rows[::-1][:limit]


@register.filter
def signed(value: float) -> str:
    """+3 / −2 (a real minus sign), for a change in score."""
    rounded = _half_up(float(value))
    return f"+{rounded}" if rounded > 0 else f"\u2212{-rounded}" if rounded < 0 else "0"


@register.simple_tag
def history_chart(points: Sequence, width: int = 720, height: int = 240) -> SafeString:
    """Inline SVG of reputation over time: the score line over its shaded 90% interval band."""
    if not points:
        return format_html('<p class="chart-empty">{}</p>', "No history yet. A point is recorded each day the author has votes.")
    pad_l, pad_r, pad_t, pad_b = 40, 16, 14, 30
    inner_w, inner_h = width - pad_l - pad_r, height - pad_t - pad_b
    first, last = points[0].day, points[-1].day
    span = max((last - first).days, 1)

    def x(day) -> str:
        pos = pad_l + inner_w / 2 if len(points) == 1 else pad_l + inner_w * (day - first).days / span
        return f"{pos:.1f}"

    def y(value: float) -> str:
        return f"{pad_t + inner_h * (1 - max(0.0, min(100.0, value)) / 100):.1f}"

    # Only numbers we formatted and dates we printed go into the markup; text is escaped.
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{{label}}">',
             "<title>{label}</title>"]
    for v in (0, 25, 50, 75, 100):
        extra = " chart-mid" if v == 50 else ""
        parts.append(f'<line class="chart-grid{extra}" x1="{pad_l}" x2="{width - pad_r}" y1="{y(v)}" y2="{y(v)}"/>')
        parts.append(f'<text class="chart-axis" x="{pad_l - 8}" y="{float(y(v)) + 4:.1f}" text-anchor="end">{v}</text>')
    if len(points) == 1:  # a single day: a short band and a dot, not a line to nowhere
        p = points[0]
        band_h = max(float(y(p.low)) - float(y(p.high)), 1.0)
        parts.append(f'<rect class="chart-band" x="{float(x(p.day)) - 12:.1f}" y="{y(p.high)}" width="24" height="{band_h:.1f}" rx="4"/>')
        labels = [(first, "middle")]
    else:
        band = [f"{x(p.day)},{y(p.high)}" for p in points] + [f"{x(p.day)},{y(p.low)}" for p in reversed(points)]
        parts.append(f'<polygon class="chart-band" points="{" ".join(band)}"/>')
        parts.append(f'<polyline class="chart-line" points="{" ".join(f"{x(p.day)},{y(p.score)}" for p in points)}"/>')
        labels = [(first, "start"), (last, "end")]
    latest = points[-1]
    parts.append(f'<circle class="chart-dot" cx="{x(latest.day)}" cy="{y(latest.score)}" r="4"/>')
    for day, anchor in labels:
        parts.append(f'<text class="chart-axis" x="{x(day)}" y="{height - 8}" text-anchor="{anchor}">{day:%b %-d, %Y}</text>')
    parts.append("</svg>")
    days = len(points)
    label = (
        f"Reputation from {first:%b %-d, %Y} to {last:%b %-d, %Y}: now {latest.score:.0f} "
        f"(90% interval {latest.low:.0f} to {latest.high:.0f}), {days} day{'s' if days != 1 else ''} recorded."
    )
    return mark_safe("".join(parts).replace("{label}", escape(label)))
