"""The engine benchmark: `make bench` (or `.venv/bin/python bench/run_engine_bench.py [--quick]`).

Three parts, the engine beside the baselines in each:
1. Scenarios on two independently written world generators (bench/engine/sim.py and sim2.py):
   clean, noise, polarized and the classic attacks (on sim2 the attack families of those names).
2. The adversarial suite (bench/engine/attacks.py, search.py): every attack family, its parameters
   searched against the current engine, on both generators (mean and worst target shift, budget).
3. Bitcoin OTC through the product's commands (import_votes, recompute_reputation,
   export_reputation), ROC AUC benign vs fraudulent.
Writes bench/out/engine_report.md (+ .png, .json) and bench/out/attack_report.md (+ .json), and
prints the tables. Seeds 1-3 are for reporting; tune on --tune (seeds 101-103).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tqdm import tqdm  # noqa: E402

from bench import run_attack_search  # noqa: E402
from bench.engine import attacks, report, search  # noqa: E402
from bench.engine.baselines import BASELINES  # noqa: E402
from bench.engine.runner import run_otc, run_world  # noqa: E402
from bench.engine.sim import ATTACKS  # noqa: E402

SCENARIOS = {"sim": ATTACKS, "sim2": ATTACKS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one seed, small worlds, a short attack search")
    ap.add_argument("--tune", action="store_true", help="use the tuning seeds 101-103 instead of the reporting seeds")
    ap.add_argument("--generators", default="sim,sim2")
    ap.add_argument("--scenarios", default=",".join(ATTACKS))
    ap.add_argument("--methods", default="engine," + ",".join(BASELINES))
    ap.add_argument("--families", default=",".join(attacks.FAMILIES), help="attack families to search ('' = none)")
    ap.add_argument("--settings", type=int, default=None, help="settings tried per family (default 6; --quick 4)")
    ap.add_argument("--no-otc", action="store_true", help="skip Bitcoin OTC through the product")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"))
    args = ap.parse_args()

    seeds = [101, 102, 103] if args.tune else [1, 2, 3]
    sizes = ["small", "medium"]
    if args.quick:
        seeds, sizes = seeds[:1], ["small"]
    gens = args.generators.split(",")
    scenarios = args.scenarios.split(",")
    if "clean" in scenarios:  # the clean world is every attack's reference: run it first
        scenarios = ["clean"] + [s for s in scenarios if s != "clean"]
    methods = args.methods.split(",")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    rows, cache = [], {}
    jobs = [(g, size, seed, sc) for g in gens for size in sizes for seed in seeds for sc in scenarios]
    for g, size, seed, sc in tqdm(jobs, desc="scenarios", file=sys.stderr):
        rows += run_world(sc, seed, size, cache, methods, generator=g)
    otc = [] if args.no_otc else run_otc(methods)
    (out / "engine_results.json").write_text(json.dumps({"worlds": rows, "otc": otc}, indent=1))
    table = report.write(rows, otc, out, seeds=seeds, sizes=sizes, secs=time.perf_counter() - started)
    print(table)

    families = [f for f in args.families.split(",") if f]
    if families:
        # The search runs on small worlds (it fits the engine ~20 times a family); seeds 1-2 (--quick: 1).
        a_seeds = seeds[:1] if args.quick else seeds[:2]
        n_settings = args.settings or (4 if args.quick else 6)
        t = time.perf_counter()
        results = search.run_suite(run_attack_search.generators(gens, "small"), families, a_seeds, n_settings=n_settings,
                                   n_best=1, progress_factory=lambda **kw: tqdm(file=sys.stderr, **kw))
        from reputation.engine import get_engine

        doc = {"engine": get_engine().name, "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "size": "small",
               "seeds": a_seeds, "settings": n_settings, "budget_share": 0.15, "secs": time.perf_counter() - t,
               "results": results}
        (out / "attack_report.json").write_text(json.dumps(doc, indent=1, default=float))
        run_attack_search.write_report(json.loads((out / "attack_report.json").read_text()), out, families)
        for gen, res in results.items():
            print(f"\n== attack search, generator {gen} (small worlds, seeds {a_seeds}, {n_settings} settings) ==")
            print(run_attack_search.table(res))
    print(f"\nreports: {out / 'engine_report.md'}, {out / 'attack_report.md'}  ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
