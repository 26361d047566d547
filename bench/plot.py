"""The plot of docs/PERFORMANCE.md: ListMessages p50 latency against the
number of messages in the conversation, SQLite and PostgreSQL, from the
latest results of `manage.py bench` on each (bench/results/latest-*.json).

    .venv/bin/python -m bench.plot                # -> docs/performance-listmessages.png
    .venv/bin/python -m bench.plot --results DIR --out FILE
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASES = {"sqlite": ("SQLite", "tab:blue"), "postgresql": ("PostgreSQL", "tab:orange")}
VARIANTS = {
    "Streams first": ("ListMessages, first page", "-", "o"),
    "Streams deep": ("ListMessages, page near the oldest", "--", "s"),
    "Chats first": ("Chats ListMessages, first page", ":", "^"),
    "Chats deep": ("Chats ListMessages, near the oldest", "-.", "v"),
}


def load(results_dir):
    found = {}
    for vendor in DATABASES:
        path = Path(results_dir) / f"latest-{vendor}.json"
        if path.exists():
            results = json.loads(path.read_text())
            if results.get("growth"):
                found[vendor] = results
    return found


def plot(found, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(11, 5.5), dpi=100)
    notes = []
    for vendor, results in found.items():
        name, colour = DATABASES[vendor]
        growth = results["growth"]
        sizes = [row["size"] for row in growth["sizes"]]
        for variant, (label, style, marker) in VARIANTS.items():
            if variant not in growth["variants"]:
                continue
            p50 = [row[variant]["p50_ms"] for row in growth["sizes"]]
            axes.plot(sizes, p50, linestyle=style, marker=marker, color=colour, label=f"{name}: {label}")
        meta = results["meta"]
        db = meta["database"]
        notes.append(
            f"{name} {db['version']}: concurrency {growth['concurrency']}, {growth['requests']:,} requests per point, "
            f"gunicorn {meta['workers']}x{meta['threads']}" + (f" ({meta['label']})" if meta.get("label") else "")
        )
    axes.set_xscale("log")
    axes.set_xlabel("messages in the conversation (chat)")
    axes.set_ylabel("p50 latency (ms), over HTTP")
    axes.set_ylim(bottom=0)
    axes.grid(True, which="both", alpha=0.3)
    machine = next(iter(found.values()))["meta"]["machine"]
    axes.set_title(f"ListMessages latency as a conversation grows ({machine['cores']} cores)")
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    figure.text(0.01, 0.01, "\n".join(notes), fontsize=7, va="bottom")
    figure.tight_layout(rect=(0, 0.025 * len(notes), 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance-listmessages.png"))
    args = parser.parse_args(argv)
    found = load(args.results)
    if not found:
        sys.exit(f"No growth series in {args.results}/latest-*.json: run manage.py bench first.")
    print(f"Wrote {plot(found, Path(args.out))} from {', '.join(DATABASES[v][0] for v in found)}.")


if __name__ == "__main__":
    main()
