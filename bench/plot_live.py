"""The plot of docs/PERFORMANCE.md "Live updates": delivery latency
percentiles (receipt - CreateMessage answered) for each number of
subscribers, from the latest results of `manage.py bench_live` on each
database (bench/results/latest-live-*.json).

    .venv/bin/python -m bench.plot_live                # -> docs/performance-live.png
    .venv/bin/python -m bench.plot_live --results DIR --out FILE
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASES = {"postgresql": ("PostgreSQL", "-"), "sqlite": ("SQLite", "--")}
POINTS = ["p50", "p75", "p90", "p95", "p99", "p99.9", "max"]
GOAL_MS = 100  # p99 at 1,000 subscribers and 50 messages/s


def load(results_dir):
    found = {}
    for vendor in DATABASES:
        path = Path(results_dir) / f"latest-live-{vendor}.json"
        if path.exists():
            found[vendor] = json.loads(path.read_text())
    return found


def plot(found, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 5.5), dpi=100)
    notes, lowest = [], 0.0
    colours = iter(["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:grey"])
    for vendor, results in found.items():
        name, style = DATABASES[vendor]
        meta = results["meta"]
        for run in results["runs"]:
            latency = run["latency_from_answer_ms"]
            if not latency.get("n"):
                continue
            points = [p for p in POINTS if p in latency]
            lowest = min(lowest, *(latency[p] for p in points))
            label = f"{name}: {run['subscribers']:,} subscribers ({run['lost']} lost)"
            axes.plot(
                points, [latency[p] for p in points], linestyle=style, marker="o", color=next(colours), label=label
            )
        db = meta["database"]
        notes.append(
            f"{name} {db['version']}: {meta['rate']:g} messages/s for {meta['seconds']:g} s over "
            f"{meta['conversations']} conversations, {meta['workers']} server processes; {meta['started']}, "
            f"load average {meta['load_before'][0] if meta.get('load_before') else '?'} before"
            + (f" ({meta['label']})" if meta.get("label") else "")
        )
    axes.axhline(GOAL_MS, color="black", linewidth=0.8, linestyle=":", label=f"goal: p99 under {GOAL_MS} ms")
    axes.set_yscale("symlog", linthresh=1.0)  # a receipt can come before the writer has its answer: below 0
    axes.set_ylim(bottom=lowest)
    axes.set_xlabel("percentile of deliveries")
    axes.set_ylabel("receipt - CreateMessage answered (ms, log scale above 1)")
    axes.grid(True, which="both", alpha=0.3)
    machine = next(iter(found.values()))["meta"]["machine"]
    axes.set_title(
        f"Live updates: delivery latency over /events ({machine['cores']} cores, client on the same machine)"
    )
    axes.legend(fontsize=8, loc="upper left")
    figure.text(0.01, 0.01, "\n".join(notes), fontsize=7, va="bottom")
    figure.tight_layout(rect=(0, 0.03 * len(notes), 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance-live.png"))
    args = parser.parse_args(argv)
    found = load(args.results)
    if not found:
        sys.exit(f"No {args.results}/latest-live-*.json: run manage.py bench_live first.")
    print(f"Wrote {plot(found, Path(args.out))} from {', '.join(DATABASES[v][0] for v in found)}.")


if __name__ == "__main__":
    main()
