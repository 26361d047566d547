"""The tables `manage.py bench` prints, and its results files (JSON, CSV).

A phase is a dict: requests, errors, rps, p50_ms, p90_ms, p99_ms, mean_ms,
server_cpu_us and client_cpu_us (CPU per request: the gunicorn workers plus,
on PostgreSQL, their database backends; and the load client), statuses,
first_error.
"""

import csv
import json
import os
import platform
from pathlib import Path

FLAT_TARGET = 1.2  # p50 at the largest size / p50 at the smallest, PostgreSQL
RECENT_TARGET = 3.0  # RecentMessages over 100 conversations / one ListMessages


def phase_dict(result, server_cpu):
    n = max(result.requests, 1)
    return {
        "requests": result.requests,
        "errors": result.errors,
        "rps": round(result.rps, 1),
        "p50_ms": round(result.percentile(50), 2),
        "p90_ms": round(result.percentile(90), 2),
        "p99_ms": round(result.percentile(99), 2),
        "mean_ms": round(1000 * sum(result.latencies) / n, 2),
        "server_cpu_us": round(1e6 * server_cpu / n) if server_cpu is not None else None,
        "client_cpu_us": round(1e6 * result.client_cpu / n),
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        "first_error": result.first_error,
        "reconnects": result.reconnects,
    }


def machine():
    info = {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gb": _memory_gb(),
        "python": platform.python_version(),
    }
    info["system"] = f"{platform.system()} {platform.release()}"
    return info


def database_version():
    """The version of the database server (PostgreSQL) or library (SQLite)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return cursor.fetchone()[0]
    import sqlite3

    return sqlite3.sqlite_version


def load_average():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


# ---------------------------------------------------------------- text tables


def fmt(value, spec=",.0f"):
    return "-" if value is None else format(value, spec)


def table(rows, header, align):
    """Rows of strings as a fixed-width table; align is 'l' or 'r' per column."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells):
        return "  ".join(
            (str(c).ljust(w) if a == "l" else str(c).rjust(w)) for c, w, a in zip(cells, widths, align, strict=True)
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def header_text(results):
    meta = results["meta"]
    m, db, data = meta["machine"], meta["database"], meta["data"]
    lines = [
        f"Machine:     {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, {m['system']}, Python {m['python']}",
        f"Database:    {db['vendor']} {db['version']} ({db['name']})",
        f"Server:      gunicorn, {meta['workers']} workers x {meta['threads']} threads (make serve's layout), "
        "DJANGO_PRODUCTION=1, DEBUG off",
        f"Client:      {meta['client_processes']} process(es), {meta['concurrency']} requests in flight, each over "
        f"{meta.get('connections_per_slot', 1)} keep-alive connections in turn, "
        f"{meta['requests']:,} requests per phase after {meta['warmup']:,} warm-up, {meta['rounds']} round(s)",
        *(
            f"{'Data:' if n == 0 else '':<13}{label}: "
            + ", ".join(f"{counts[k]:,} {k}" for k in ("namespaces", "conversations", "chats", "streams messages"))
            + f", {counts['chats messages']:,} chats messages"
            for n, (label, counts) in enumerate(data.items())
        ),
        f"Load avg:    {meta['load_before']} before, {meta['load_after']} after"
        + (f"   [{meta['label']}]" if meta.get("label") else ""),
    ]
    return "\n".join(lines)


def rpc_table(results):
    rows = []
    base = results.get("baseline")
    if base:
        rows.append(["(no SQL: noop view)", "0", *_phase_cells(base), *[""] * 6])
    for entry in results["rpcs"]:
        rpc, floor = entry["rpc_phase"], entry.get("floor_phase")
        ratio, target = entry.get("ratio"), entry.get("target")
        verdict = ""
        if ratio is not None and target is not None:
            verdict = f">={target:.1f} " + ("ok" if ratio >= target else "LOW")
        rows.append(
            [
                entry["rpc"],
                fmt(entry.get("sql_statements"), "d"),
                *_phase_cells(rpc),
                *(_phase_cells(floor)[1:] if floor else ["-"] * 4),
                fmt(ratio, ".2f"),
                verdict,
            ]
        )
    header = ["RPC", "SQL", "errors", "req/s", "p50 ms", "p99 ms", "CPU us", "floor req/s"]
    header += ["p50 ms", "p99 ms", "CPU us", "ratio", "target"]
    return table(rows, header, "lrrrrrrrrrrrl")


def _phase_cells(p):
    return [
        fmt(p["errors"], "d"),
        fmt(p["rps"]),
        fmt(p["p50_ms"], ".2f"),
        fmt(p["p99_ms"], ".2f"),
        fmt(p["server_cpu_us"]),
    ]


def growth_table(results):
    growth = results["growth"]
    variants = growth["variants"]
    rows = []
    for row in growth["sizes"]:
        rows.append([f"{row['size']:,}", *(fmt(row[v]["p50_ms"], ".2f") for v in variants)])
    flat = growth.get("flat")
    if flat:
        rows.append(
            [f"{flat['largest']:,} / {flat['smallest']:,}", *(fmt(flat["ratios"][v], ".2f") + "x" for v in variants)]
        )
    header = ["messages", *variants]
    rounds = growth.get("rounds", 1)
    text = (
        f"p50 latency (ms) over HTTP, concurrency {growth['concurrency']}; the median of {rounds} round(s) "
        f"of {growth['requests'] // rounds:,} requests per point, the sizes in turn:\n"
    )
    text += table(rows, header, "l" + "r" * len(variants))
    if flat:
        target = f"target <= {FLAT_TARGET}x on PostgreSQL"
        text += f"\n(last row: p50 at {flat['largest']:,} messages / p50 at {flat['smallest']:,}; {target})"
    recent = results.get("recent")
    if recent:
        text += (
            f"\n\nRecentMessages over {recent['conversations']} conversations "
            f"(limit_per_conversation {recent['limit']}, {fmt(recent.get('sql_statements'), 'd')} SQL statement(s)): "
            f"p50 {recent['phase']['p50_ms']:.2f} ms, {recent['phase']['rps']:,.0f} req/s = "
            f"{recent['ratio']:.2f}x one ListMessages (p50 {recent['reference_p50_ms']:.2f} ms, "
            f"{recent['reference']}); target <= {RECENT_TARGET:.0f}x"
        )
        if recent.get("floor_phase"):
            floor = recent["floor_phase"]
            text += f"\n  its floor: p50 {floor['p50_ms']:.2f} ms, {floor['rps']:,.0f} req/s"
    return text


def text(results):
    parts = [header_text(results)]
    if results.get("rpcs"):
        parts.append(
            "Every RPC over HTTP, and its floor (the same statements and rendering in a plain Django view, "
            "same gunicorn and database;\nthe ORM paths have none).\nSQL: statements per request in steady state "
            "(API-key lookup and BEGIN/COMMIT left out). CPU us: server CPU per request (gunicorn workers"
            + (" + PostgreSQL backends" if results["meta"]["database"]["vendor"] == "postgresql" else "")
            + "). ratio: RPC req/s / floor req/s.\n"
            + rpc_table(results)
        )
        client = [e["rpc_phase"]["client_cpu_us"] for e in results["rpcs"]]
        parts.append(
            f"Load client CPU per request: {min(client)}-{max(client)} us "
            f"(so one client process could drive about {1e6 / max(max(client), 1):,.0f} req/s on one core)."
        )
    if results.get("growth"):
        parts.append("Growth series: ListMessages as the conversation (chat) grows.\n" + growth_table(results))
    return "\n\n".join(parts)


# ---------------------------------------------------------------- files


def write(results, directory, stamp):
    """results/<vendor>-<stamp>.json and .csv, and latest-<vendor>.json/.csv. The paths written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vendor = results["meta"]["database"]["vendor"]
    written = []
    for name in (f"{vendor}-{stamp}", f"latest-{vendor}"):
        path = directory / f"{name}.json"
        path.write_text(json.dumps(results, indent=1) + "\n")
        csv_path = directory / f"{name}.csv"
        with open(csv_path, "w", newline="") as out:
            write_csv(results, out)
        written += [path, csv_path]
    return written


CSV_FIELDS = ["section", "name", "variant", "size", "requests", "errors", "rps", "p50_ms", "p90_ms", "p99_ms"]
CSV_FIELDS += ["mean_ms", "server_cpu_us", "client_cpu_us", "ratio"]


def write_csv(results, out):
    writer = csv.DictWriter(out, CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    if results.get("baseline"):
        writer.writerow({"section": "baseline", "name": "noop", **results["baseline"]})
    for entry in results.get("rpcs", []):
        writer.writerow({"section": "rpc", "name": entry["rpc"], **entry["rpc_phase"], "ratio": entry.get("ratio")})
        if entry.get("floor_phase"):
            writer.writerow({"section": "floor", "name": entry["rpc"], **entry["floor_phase"]})
    growth = results.get("growth")
    if growth:
        for row in growth["sizes"]:
            for variant in growth["variants"]:
                writer.writerow({"section": "growth", "name": variant, "size": row["size"], **row[variant]})
    recent = results.get("recent")
    if recent:
        for section, phase in (("recent", recent["phase"]), ("recent floor", recent.get("floor_phase"))):
            if phase:
                row = {"section": section, "name": "Streams/RecentMessages", "size": recent["conversations"]}
                writer.writerow({**row, **phase})
