"""The adversarial suite: every attack family, parameter-searched against the current engine.

    .venv/bin/python bench/run_attack_search.py                 # medium worlds, seeds 1-3, 10 settings a family
    .venv/bin/python bench/run_attack_search.py --quick         # small worlds, seeds 1-2, 6 settings (a few minutes)
    .venv/bin/python bench/run_attack_search.py --families framing,decoys --generator sim2

Per generator and family: the most damaging setting found (objective: mean target shift in the
attacker's favour, percentile points among all authors, as in bench/engine/metrics.py; decoys: the
larger camp's lift), its mean and worst single-target shift on the engine, the same attack against
the simple baselines (mean, bayes_avg, wilson, iterative_refinement; "best" = the one it moves least),
and its budget (accounts created or taken over, share of all accounts, <= 15%). Writes
bench/out/attack_report.md and attack_report.json. Rerun after every defense change: the engine is
`reputation.engine.get_engine()` at every fit (or `--engine module[:callable]`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tqdm import tqdm  # noqa: E402

from bench.engine import attacks, search  # noqa: E402


def generators(names: list[str], size: str, solicited: float = 0.0) -> dict:
    """Each generator's honest world maker; with `solicited`, that share of the honest votes came
    through Rate next (bench/engine/solicit.py)."""
    from bench.engine.solicit import solicit

    out = {}
    for name in names:
        if name == "sim":
            from bench.engine import sim

            def make(seed, polarized=False, _sim=sim):
                return _sim.make_world("polarized" if polarized else "clean", seed, size)
        elif name == "sim2":
            try:
                from bench.engine import sim2
            except ImportError as e:
                print(f"generator sim2 not available ({e}); skipped", file=sys.stderr)
                continue

            def make(seed, polarized=False, _sim2=sim2):
                return _sim2.honest_world(seed, size, polarized=polarized)
        else:
            raise SystemExit(f"unknown generator {name!r} (sim, sim2)")
        if solicited > 0:
            def make(seed, polarized=False, _make=make):
                return solicit(_make(seed, polarized), solicited, seed)
        out[name] = make
    return out


def engine_factory(spec: str | None):
    if not spec:
        from reputation.engine import get_engine

        return get_engine
    mod, _, attr = spec.partition(":")
    m = importlib.import_module(mod)
    return getattr(m, attr or "get_engine")


def _params(p: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in p.items()) or "(issue setting)"


def _fmt(x, nd=1, sign=True):
    if x is None or x != x:
        return "-"
    return f"{x:+.{nd}f}" if sign else f"{x:.{nd}f}"


def table(results: dict) -> str:
    lines = ["| family | best params | engine mean shift | engine worst | best baseline mean shift | budget "
             "| honest over attacker credibility (AUC) | issue setting, engine (first seed) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        extra = ""
        if r["objective"] == "lift_change":
            extra = f" (lift change; tau {_fmt(r['engine_tau_change'], 3)})"
        if "under_review" in r and name in ("framing", "discredit"):
            extra = f" ({r['under_review']:.1f} targets under_review)"
        bb = f"{_fmt(r['best_baseline_mean'])} ({r['best_baseline']})" if r["best_baseline"] else "-"
        if r["objective"] == "lift_change":
            bb += f"; tau {_fmt(r['baseline_tau_change'][r['best_baseline']], 3)}"
        lines.append(f"| {name} | {_params(r['params'])} | {_fmt(r['engine_mean'])}{extra} | {_fmt(r['engine_worst'])} "
                     f"| {bb} | {r['accounts']} ({100 * r['share']:.1f}%) | {_fmt(r.get('engine_cred_auc'), 2, False)} "
                     f"| {_fmt(r['trials'][0]['objective'])} |")
    return "\n".join(lines)


def baseline_table(results: dict) -> str:
    names = list(search.SIMPLE_BASELINES)
    lines = ["| family | engine | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for name, r in results.items():
        cells = [_fmt(r["baseline_mean"].get(b)) for b in names]
        lines.append(f"| {name} | {_fmt(r['engine_mean'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(doc: dict, out: Path, families: list[str]) -> None:
    """bench/out/attack_report.md from the run's JSON document (also: --report-only)."""
    head = (f"# Attack search against {doc['engine']}\n\n{doc['when']}; worlds {doc['size']}, seeds {doc['seeds']}, "
            f"{doc['settings']} settings per family (best re-run on the other seeds), budget "
            f"{100 * doc['budget_share']:.0f}% of all accounts; {doc['secs']:.0f} s.\nShift: percentile points among all "
            f"authors in the attacker's favour (push: attacked minus clean; sink: clean minus attacked), mean over targets "
            f"and seeds; worst = largest single target over the seeds. Best baseline = the simple baseline the same attack "
            f"moves least. decoys: change of the larger camp's lift (and of Kendall tau) against the polarized world "
            f"without them.\n")
    parts = [head]
    for gen, res in doc["results"].items():
        parts.append(f"\n## Generator {gen}\n\n{table(res)}\n\nThe same best attacks against each simple baseline "
                     f"(mean shift; decoys: lift change):\n\n{baseline_table(res)}\n")
    parts.append("\n## Families\n\n" + "\n".join(
        f"- `{n}`: {' '.join((attacks.FAMILIES[n].__doc__ or '').split())}" for n in families if n in attacks.FAMILIES) + "\n")
    (out / "attack_report.md").write_text("".join(parts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small worlds, seeds 1-2, 6 settings, best 1 re-run")
    ap.add_argument("--families", default=",".join(attacks.FAMILIES))
    ap.add_argument("--generator", default="sim,sim2")
    ap.add_argument("--seeds", default=None, help="comma-separated (default 1,2,3; --quick 1,2)")
    ap.add_argument("--settings", type=int, default=None, help="settings tried per family (default 10; --quick 6)")
    ap.add_argument("--size", default=None, help="world size (default medium; --quick small)")
    ap.add_argument("--budget", type=float, default=0.15, help="attacker share of all accounts")
    ap.add_argument("--engine", default=None, help="module[:callable] returning an engine (default reputation.engine:get_engine)")
    ap.add_argument("--solicited", type=float, default=0.0,
                    help="share of the honest votes cast through Rate next (0: the data has no solicited votes)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"))
    ap.add_argument("--report-only", default=None, help="rewrite attack_report.md from this attack_report.json")
    args = ap.parse_args()
    if args.report_only:
        doc = json.loads(Path(args.report_only).read_text())
        fams = list(next(iter(doc["results"].values()), {}))
        write_report(doc, Path(args.out), fams)
        for gen, res in doc["results"].items():
            print(f"\n== generator {gen} (engine {doc['engine']}, {doc['size']}, seeds {doc['seeds']}) ==")
            print(table(res))
        return

    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else ([1, 2] if args.quick else [1, 2, 3])
    n_settings = args.settings or (6 if args.quick else 10)
    n_best = 1 if args.quick else 2
    size = args.size or ("small" if args.quick else "medium")
    families = [f for f in args.families.split(",") if f]
    unknown = [f for f in families if f not in attacks.FAMILIES]
    if unknown:
        raise SystemExit(f"unknown families {unknown}; known: {', '.join(attacks.FAMILIES)}")
    factory = engine_factory(args.engine)
    gens = generators(args.generator.split(","), size, args.solicited)
    engine_name = getattr(factory(), "name", type(factory()).__name__)

    started = time.perf_counter()
    results = search.run_suite(gens, families, seeds, factory, args.budget, n_settings, n_best,
                               progress_factory=lambda **kw: tqdm(file=sys.stderr, **kw))
    secs = time.perf_counter() - started
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    doc = {"engine": engine_name, "when": when, "size": size, "seeds": seeds, "settings": n_settings,
           "solicited": args.solicited,
           "budget_share": args.budget, "secs": secs, "results": results}
    for gen, res in results.items():
        print(f"\n== generator {gen} (engine {engine_name}, {size}, seeds {seeds}) ==")
        print(table(res))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "attack_report.json").write_text(json.dumps(doc, indent=1, default=float))
    write_report(json.loads((out / "attack_report.json").read_text()), out, families)
    print(f"\nreport: {out / 'attack_report.md'}  json: {out / 'attack_report.json'}  ({secs:.0f} s)")


if __name__ == "__main__":
    main()
