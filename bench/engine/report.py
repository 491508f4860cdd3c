"""The markdown table and the plot the benchmark command writes."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

METRICS = [
    ("tau", "Kendall tau", "{:.3f}"),
    ("top10_recall", "top-10% recall", "{:.2f}"),
    ("target_shift", "target shift (pct pts)", "{:+.1f}"),
    ("target_shift_max", "worst target", "{:+.1f}"),
    ("polarized_lift", "larger-camp lift", "{:+.1f}"),
    ("coverage90", "90% coverage", "{:.2f}"),
    ("cred_auc", "cred. AUC", "{:.2f}"),
]


def _label(r) -> str:
    """Scenario label with its generator: "sim: clean", "sim2: polarized"."""
    return f"{r.get('generator', 'sim')}: {r['scenario']}"


def _agg(rows):
    groups = defaultdict(list)
    for r in rows:
        groups[(_label(r), r["method"])].append(r)
    return groups


def _cell(vals, fmt):
    vals = [v for v in vals if v is not None and not np.isnan(v)]
    if not vals:
        return ""
    m = fmt.format(np.mean(vals))
    return m if len(vals) == 1 else f"{m} ±{np.std(vals):.2f}".replace("±0.", "±.")


def write(rows, otc, out: Path, seeds, sizes, secs: float) -> str:
    groups = _agg(rows)
    scenarios = list(dict.fromkeys(_label(r) for r in rows))
    gens = list(dict.fromkeys(r.get("generator", "sim") for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = [
        (f"Seeds {seeds}, sizes {sizes}; mean ±sd over seeds and sizes. Two generators: `sim` (bench/engine/sim.py) and "
        "`sim2` (bench/engine/sim2.py, written independently; its attack rows are the attack families of those names). "
        "Target shift: mean move of the attacked authors in the attacker's favour, in percentile points against the "
        "same world without the attack; worst target: the largest single move, averaged over runs."),
        "",
        "| scenario | method | " + " | ".join(m[1] for m in METRICS) + " | secs |",
        "|---|---|" + "---|" * (len(METRICS) + 1),
    ]
    for s in scenarios:
        for m in methods:
            g = groups.get((s, m), [])
            cells = [_cell([r.get(k) for r in g], f) for k, _, f in METRICS]
            lines.append(f"| {s} | {m} | " + " | ".join(cells) + f" | {np.mean([r['secs'] for r in g]):.2f} |")
    lines += ["", "| generator | method | noise tau drop |", "|---|---|---|"]
    for g in gens:
        for m in methods:
            clean = np.mean([r["tau"] for r in groups.get((f"{g}: clean", m), [])] or [np.nan])
            noise = np.mean([r["tau"] for r in groups.get((f"{g}: noise", m), [])] or [np.nan])
            lines.append(f"| {g} | {m} | {clean - noise:+.3f} |")
    lines += ["", "| real data | method | AUC benign vs fraudulent |", "|---|---|---|"]
    lines += [f"| {r['scenario']} | {r['method']} | {r['otc_auc']:.3f} |" for r in otc]
    lines += ["", f"Total run time {secs:.0f} s."]
    table = "\n".join(lines)
    (out / "engine_report.md").write_text("# Reputation engine benchmark\n\n" + table + "\n")
    _plot(groups, scenarios, methods, out / "engine_report.png")
    return table


def _plot(groups, scenarios, methods, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attacks = [s for s in scenarios if any("target_shift" in r for r in groups.get((s, methods[0]), []))]
    fig, axes = plt.subplots(1, 2, figsize=(18, 6))
    width = 0.8 / len(methods)
    for i, m in enumerate(methods):
        taus = [np.mean([r["tau"] for r in groups.get((s, m), [])] or [np.nan]) for s in scenarios]
        axes[0].bar(np.arange(len(scenarios)) + i * width, taus, width, label=m)
        shifts = [np.mean([r.get("target_shift", np.nan) for r in groups.get((s, m), [])] or [np.nan]) for s in attacks]
        axes[1].bar(np.arange(len(attacks)) + i * width, shifts, width, label=m)
    axes[0].set_xticks(np.arange(len(scenarios)) + 0.4, scenarios, rotation=30)
    axes[0].set_title("Kendall tau with true quality (higher is better)")
    axes[1].set_xticks(np.arange(len(attacks)) + 0.4, attacks, rotation=30)
    axes[1].axhline(5, color="k", ls="--", lw=0.8)
    axes[1].set_title("Targets' shift, percentile points (target <= 5)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
