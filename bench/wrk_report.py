"""The tables `manage.py bench_wrk` prints and its results files.

results = {"meta": {...}, "databases": [entry, ...]}, an entry per database:
{"vendor", "version", "name", "load_before", "load_after", "layouts": [layout,
...]} (or {"vendor", "error"} when its run failed), a layout {"workers",
"threads", "rss_mb": [per worker], "results": {request: figures}} with
bench.wrk.measure's figures (rps, p50_ms, p99_ms, server_cpu_us, errors, ...)
for each of bench.wrk.KNOWN that ran; over several rounds (--rounds) the
median round's, with `rounds` (bench.wrk.combine).

The reference (bench/results/reference-synapse.json) is another server's
figures on the same three requests: {"name", "source", "databases": {vendor:
{request: {"rps", "p99_ms"}}}}; the summary puts them beside ours.
"""

import json
import statistics
from pathlib import Path

from bench.report import fmt, table
from bench.wrk import KNOWN

VENDORS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
COMPARED = ("send", "read", "create")  # the summary's columns, as the issue has them


def vendor_name(vendor: str) -> str:
    return VENDORS.get(vendor, vendor)


def layout_name(layout: dict) -> str:
    return f"{layout['workers']} x {layout['threads']}"


def workers_name(workers: int) -> str:
    return f"{workers} worker{'' if workers == 1 else 's'}"


def rps_text(rps) -> str:
    if rps is None:
        return "-"
    return f"{rps:,.0f}" if rps >= 1000 else f"{rps:.1f}"


def ceiling(layout: dict, request: str):
    """req/s of `request` / req/s of the noop view in the same layout's run;
    over several rounds, the median of each round's ratio to that round's
    noop (the machine's drift between rounds reaches both of a pair)."""
    ratios = ceilings(layout, request)
    return round(statistics.median(ratios), 3) if ratios else None


def ceilings(layout: dict, request: str) -> list[float]:
    """Each round's req/s of `request` / req/s of the noop of that round."""
    noop, figures = layout["results"].get("noop"), layout["results"].get(request)
    if not noop or not figures:
        return []
    pairs = zip(noop.get("rounds") or [noop], figures.get("rounds") or [figures], strict=True)
    return [ours["rps"] / theirs["rps"] for theirs, ours in pairs if theirs["rps"]]


def rounds_of(entry: dict) -> int:
    """How many rounds the entry's runs had (1 without --rounds)."""
    return max(
        (len(f.get("rounds") or [f]) for layout in entry["layouts"] for f in layout["results"].values()), default=1
    )


def span(values, spec: str) -> str:
    """'min-max' of `values`."""
    return f"{min(values):{spec}}-{max(values):{spec}}" if values else "-"


def errors(results: dict) -> int:
    return sum(
        figures["errors"]
        for entry in results["databases"]
        for layout in entry.get("layouts", [])
        for figures in layout["results"].values()
    )


def failures(results: dict) -> list[str]:
    """What went wrong beyond error counts: a database whose run failed."""
    return [f"{vendor_name(e['vendor'])}: {e['error']}" for e in results["databases"] if e.get("error")]


# ---------------------------------------------------------------- text


def header_text(results: dict) -> str:
    meta = results["meta"]
    m, load, git = meta["machine"], meta["load"], meta["git"]
    layouts = " and ".join(workers_name(w) for w in meta["layouts"])
    lines = [
        f"wrk {meta['wrk']}: -t{load['wrk_threads']} -c{load['connections']}, keep-alive, --latency; per request a "
        f"{load['warmup']} s warm-up run, then {load['seconds']} s measured"
        + (f"; {load['rounds']} rounds, the requests in turn" if load.get("rounds", 1) > 1 else ""),
        f"Server:   make serve's layout (gunicorn, convoproject.asgi.Worker, DJANGO_PRODUCTION=1, bench.settings), "
        f"{layouts}, {meta['threads']} threads each",
        f"Machine:  {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, {m['system']}, Python {m['python']}, "
        f"Django {meta['django']}; commit {git['commit'][:10]}{' (modified)' if git['dirty'] else ''}",
        f"Load avg: {meta['load_before']} before, {meta.get('load_after')} after"
        + (f"   [{meta['label']}]" if meta.get("label") else ""),
        "Requests: " + "; ".join(f"{name} = {text}" for name, text in meta["requests"].items()),
    ]
    return "\n".join(lines)


def database_table(entry: dict) -> str:
    version = f" {entry['version']}" if entry.get("version") else ""
    title = f"{vendor_name(entry['vendor'])}{version} ({entry.get('name', '?')})"
    if entry.get("error"):
        return f"{title}: FAILED\n{entry['error']}"
    rows, memory = [], []
    several = rounds_of(entry) > 1
    for layout in entry["layouts"]:
        for n, request in enumerate(r for r in KNOWN if r in layout["results"]):
            figures = layout["results"][request]
            row = [
                layout_name(layout) if n == 0 else "",
                request,
                fmt(figures["rps"]),
                fmt(figures["p50_ms"], ".2f"),
                fmt(figures["p99_ms"], ".2f"),
                fmt(figures.get("server_cpu_us")),
                fmt(figures["errors"], "d"),
                fmt(ceiling(layout, request), ".2f"),
            ]
            if several:
                row[3:3] = [span([r["rps"] for r in figures.get("rounds") or [figures]], ",.0f")]
                row.append(span(ceilings(layout, request), ".2f"))
            rows.append(row)
        rss = layout.get("rss_mb") or []
        if rss:
            span_mb = f"{rss[0]:.1f}" if len(rss) == 1 else f"{rss[0]:.1f}-{rss[-1]:.1f}"
            memory.append(f"{layout_name(layout)}: {span_mb} MB")
    header = ["layout", "request", "req/s", "p50 ms", "p99 ms", "CPU us/req", "errors", "/ceiling"]
    cpu = "gunicorn workers + their PostgreSQL backends" if entry["vendor"] == "postgresql" else "gunicorn workers"
    explained = f"CPU us/req: server CPU per request ({cpu}); /ceiling: req/s / the same layout's noop req/s."
    if several:
        header[3:3] = ["rounds req/s"]
        header.append("rounds /ceiling")
        explained = (
            f"Over {rounds_of(entry)} rounds: req/s, p50, p99, CPU are the median round's (by req/s), errors "
            f"every round's; /ceiling the median of each round's req/s / its noop's; rounds: min-max.\n"
            f"CPU us/req: server CPU per request ({cpu})."
        )
    lines = [
        f"{title}; load avg {entry.get('load_before')} before, {entry.get('load_after')} after",
        table(rows, header, "ll" + "r" * (len(header) - 2)),
        explained,
    ]
    if memory:
        lines.append("RSS per worker after the runs (min-max): " + "; ".join(memory))
    problems = sum(len(layout.get("log_problems") or []) for layout in entry["layouts"])
    if problems:
        lines.append(f"Server logs: {problems} line(s) telling of errors (bench/results/gunicorn-wrk-*.log).")
    return "\n".join(lines)


def cell(figures) -> str:
    """'req/s (p99 ms)'."""
    if not figures:
        return "-"
    p99 = figures.get("p99_ms")
    return rps_text(figures.get("rps")) + (f" ({p99:,.0f})" if p99 is not None else "")


def summary_table(results: dict, reference: dict | None = None) -> str:
    """Rows 'this project, <database>, N workers' (and the reference's rows),
    columns send/read/create as 'req/s (p99 ms)', with 'x <reference>' ratios."""
    name = (reference or {}).get("name", "reference")
    theirs_of = (reference or {}).get("databases", {})
    rows = []
    for entry in results["databases"]:
        if entry.get("error"):
            continue
        theirs = theirs_of.get(entry["vendor"], {})
        for layout in entry["layouts"]:
            ours = layout["results"]
            row = [f"this project, {vendor_name(entry['vendor'])}, {workers_name(layout['workers'])}"]
            row += [cell(ours.get(r)) for r in COMPARED]
            if reference:
                row += [ratio(ours.get(r), theirs.get(r)) for r in COMPARED]
            rows.append(row)
        if theirs:
            source = f" ({reference['source']})" if reference.get("source") else ""
            rows.append(
                [f"{name}, {vendor_name(entry['vendor'])}{source}", *(cell(theirs.get(r)) for r in COMPARED)]
                + [""] * len(COMPARED)
            )
    if not rows:
        return "(no database ran)"
    header = ["", *(f"{r} req/s (p99 ms)" for r in COMPARED)]
    if reference:
        header += [f"{r} x {name}" for r in COMPARED]
    return table(rows, header, "l" + "r" * (len(header) - 1))


def ratio(ours, theirs) -> str:
    if not ours or not theirs or not theirs.get("rps"):
        return "-"
    return f"{ours['rps'] / theirs['rps']:.1f}x"


def text(results: dict, reference: dict | None = None) -> str:
    parts = [header_text(results), *(database_table(entry) for entry in results["databases"])]
    parts.append("Summary: req/s (p99 ms)\n" + summary_table(results, reference))
    return "\n\n".join(parts)


# ---------------------------------------------------------------- files


def load_reference(path) -> dict | None:
    path = Path(path) if path else None
    if path is None or not path.exists():
        return None
    return json.loads(path.read_text())


def write(results: dict, directory, stamp: str, printed: str) -> list[Path]:
    """wrk-<stamp>.json/.md and latest-wrk.json/.md (the .md: the printed tables). The paths written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in (f"wrk-{stamp}", "latest-wrk"):
        path = directory / f"{name}.json"
        path.write_text(json.dumps(results, indent=1) + "\n")
        markdown = directory / f"{name}.md"
        markdown.write_text(f"# manage.py bench_wrk, {results['meta']['started']}\n\n```\n{printed}\n```\n")
        written += [path, markdown]
    return written
