"""docs/performance-wrk.png: req/s of send, read, create and the no-SQL
ceiling (noop) in grouped bars, a group per database and layout, from the
latest `manage.py bench_wrk` results (bench/results/latest-wrk.json), and,
when bench/results/reference-synapse.json is there, a group per database of
its figures (hatched; it has no ceiling). A figure of several rounds
(--rounds) is the median round's bar with a line from its lowest round to
its highest.

    .venv/bin/python -m bench.plot_wrk                 # make bench-wrk-plot
    .venv/bin/python -m bench.plot_wrk --results DIR --reference FILE --out FILE
"""

import argparse
import json
import sys
from pathlib import Path

from bench import wrk_report
from bench.wrk_report import layout_name, load_reference, vendor_name, workers_name

ROOT = Path(__file__).resolve().parent.parent
BARS = {
    "send": "tab:blue",
    "read": "tab:green",
    "trip": "tab:cyan",
    "floor": "tab:olive",
    "create": "tab:orange",
    "refused": "tab:red",
    "noop": "tab:gray",
}


def groups(results: dict, reference: dict | None = None) -> list[tuple[str, dict, bool, dict]]:
    """(label, {request: req/s}, is_reference, {request: (lowest, highest)
    round's req/s}, of the requests that ran several rounds) per bar group:
    each database's layouts, then the reference's figures for that
    database."""
    found = []
    theirs_of = (reference or {}).get("databases", {})
    for entry in results["databases"]:
        if entry.get("error"):
            continue
        name = vendor_name(entry["vendor"])
        for layout in entry["layouts"]:
            rps = {request: figures["rps"] for request, figures in layout["results"].items()}
            spans = {
                request: (min(r["rps"] for r in figures["rounds"]), max(r["rps"] for r in figures["rounds"]))
                for request, figures in layout["results"].items()
                if figures.get("rounds")
            }
            found.append((f"{name}\n{workers_name(layout['workers'])}\n({layout_name(layout)})", rps, False, spans))
        theirs = theirs_of.get(entry["vendor"])
        if theirs:
            rps = {request: figures["rps"] for request, figures in theirs.items() if figures.get("rps") is not None}
            found.append((f"{name}\n{reference.get('name', 'reference')}", rps, True, {}))
    return found


def plot(results: dict, out: Path, reference: dict | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = groups(results, reference)
    drawn_requests = {
        request: colour for request, colour in BARS.items() if any(request in rps for _, rps, _, _ in bars)
    }
    figure, axes = plt.subplots(figsize=(max(8, 1.6 * len(bars) + 2), 5.5), dpi=100)
    width = 0.8 / max(1, len(drawn_requests))
    for k, (request, colour) in enumerate(drawn_requests.items()):
        xs, heights, hatches = [], [], []
        for g, (_, rps, is_reference, spans) in enumerate(bars):
            if request in rps:
                xs.append(g + (k - (len(drawn_requests) - 1) / 2) * width)
                heights.append(rps[request])
                hatches.append("//" if is_reference else "")
                if request in spans:
                    axes.vlines(xs[-1], *spans[request], color="black", linewidth=0.8)
        drawn = axes.bar(xs, heights, width, color=colour, label=request)
        for bar, hatch, height in zip(drawn, hatches, heights, strict=True):
            bar.set_hatch(hatch)
            label = f"{height:,.0f}" if height >= 100 else f"{height:.1f}"
            axes.annotate(label, (bar.get_x() + width / 2, height), ha="center", va="bottom", fontsize=6)
    axes.set_xticks(range(len(bars)), [label for label, _, _, _ in bars], fontsize=8)
    axes.set_ylabel("requests/s")
    axes.grid(True, axis="y", alpha=0.3)
    meta = results["meta"]
    load = meta["load"]
    axes.set_title(
        f"wrk -t{load['wrk_threads']} -c{load['connections']}, {load['seconds']} s per request, "
        f"{meta['machine']['cores']} cores, {meta['started'][:16]}"
    )
    axes.legend(fontsize=8)
    failed = wrk_report.errors(results)
    if failed:  # their bars are not clean figures
        text = f"{failed} requests failed in these runs"
        axes.text(0.01, 0.98, text, transform=axes.transAxes, color="red", va="top")
    if reference:
        figure.text(
            0.01, 0.01, f"hatched: {reference.get('name')} ({reference.get('source', '')})", fontsize=7, va="bottom"
        )
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--reference", default=str(ROOT / "bench" / "results" / "reference-synapse.json"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance-wrk.png"))
    args = parser.parse_args(argv)
    path = Path(args.results) / "latest-wrk.json"
    if not path.exists():
        sys.exit(f"No {path}: run make bench-wrk first.")
    results = json.loads(path.read_text())
    print(f"Wrote {plot(results, Path(args.out), load_reference(args.reference))} from {path}.")


if __name__ == "__main__":
    main()
