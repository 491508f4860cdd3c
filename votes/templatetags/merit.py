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


_EXPLAINED = {
    "new_or_low_credibility_accounts": (
        "discounted because they came from new or low-credibility accounts, which earn weight over time"
    ),
    "per_voter_cap": "discounted because one person voted on many of these posts; each voter's say on one author is capped",
}


@register.simple_tag
def explanation_lines(explanation: dict | None) -> list[str]:
    """Plain sentences for the known parts of AuthorReputation.explanation, generic ones for the rest."""
    if not explanation:
        return []
    lines: list[str] = []
    data = dict(explanation)
    votes, voters = data.pop("votes", None), data.pop("voters", None)
    if votes is not None and voters is not None:
        lines.append(f"{votes} vote{'s' if votes != 1 else ''} from {voters} voter{'s' if voters != 1 else ''}.")
    raw, counted = data.pop("raw_weight", None), data.pop("counted_weight", None)
    if raw is not None and counted is not None:
        lines.append(f"{counted:.1f} of {raw:g} vote-equivalents counted after weighting by voter credibility.")
    n_eff = data.pop("effective_voters", None)
    if n_eff is not None:
        lines.append(f"That is as much evidence as {n_eff:.1f} independent voters of full weight.")
    for key, amount in (data.pop("discounted", None) or {}).items():
        if amount:
            why = _EXPLAINED.get(key, f"discounted ({key.replace('_', ' ')})")
            lines.append(f"{amount:.1f} vote-equivalents {why}.")
    pool = data.pop("unproven_pool", None) or {}
    if pool.get("held_back"):
        lines.append(
            f"{pool['held_back']:.1f} vote-equivalents from accounts without a record of good predictions were held back: "
            "together, such accounts can add only a bounded amount to any author, however many of them vote."
        )
    solicited = data.pop("solicited", None) or {}
    if solicited.get("votes"):
        n = solicited["votes"]
        lines.append(f"{n} vote{'s' if n != 1 else ''} came from people Merit asked to rate these posts (Rate next), "
                     "which no one can steer.")
    prior = data.pop("prior_votes", None)
    if prior is not None:
        lines.append(
            f"Every author starts from a neutral prior worth {prior:g} votes at 50, so a handful of votes cannot move the score far."
        )
    for key, value in data.items():  # fields a newer engine adds still get shown, plainly
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            lines.append(f"{key.replace('_', ' ').capitalize()}: {value:g}." if isinstance(value, float) else
                         f"{key.replace('_', ' ').capitalize()}: {value}.")
    return lines


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
