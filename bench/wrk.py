"""wrk (Debian's package) driving the load of `manage.py bench_wrk`, and what
it answers: bench/wrk.lua makes every request the same POST and prints one
line at the end, `bench_wrk {json}`, which `parse` reads.

One measurement (`measure`) is a warm-up run of wrk, its figures dropped,
then the measured run, with the server's CPU time (its workers and, on
PostgreSQL, their backends: tests.support.server.Server.cpu_sample) read
around it. The requests (`REQUESTS`, in the order they run, then `ASKED_ONLY`
when asked for) are one path and one body each, the same for every request
of a run.
"""

import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).with_name("wrk.lua")
MARK = "bench_wrk "
INSTALL = "apt-get install wrk"
REQUESTS = ("noop", "read", "send", "create")  # the default runs, in order; noop is the ceiling
ASKED_ONLY = ("trip", "floor", "refused")  # run only when --requests names them
KNOWN = REQUESTS + ASKED_ONLY
# The shape of a key (convoproject.tenants.keys: "cvk_" and 43 characters) that no database holds.
WRONG_KEY = "cvk_" + "wrong-key-" * 4 + "wro"
DESCRIPTIONS = {
    "noop": "the no-SQL ceiling: the bench's noop view",
    "read": "Streams/ListMessages, the newest 25 of a conversation of 5,000 messages",
    "send": "Streams/CreateMessage, every connection into one conversation",
    "create": "Streams/CreateConversation, a new conversation per request",
    "trip": "the noop plus one SELECT 1 through Django's cursor: the least a view that asks the database pays",
    "floor": "the read's floor: its SQL and rendering in a plain Django view (bench/floors.py), no DRF",
    "refused": "Streams/ListMessages with a wrong API key, each one looked up and answered 401",
}


class WrkMissing(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class Load:
    """wrk's options: -d (seconds) after a warm-up run of `warmup` seconds, -c, -t."""

    seconds: int = 15
    warmup: int = 5
    connections: int = 16
    threads: int = 2


def executable() -> str:
    """wrk's path, or WrkMissing saying how to install it."""
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing(f"wrk is not installed (manage.py bench_wrk drives its load with it): {INSTALL}")
    return path


def version(path: str) -> str:
    """e.g. 'debian/4.1.0-3+b2 [epoll]' (wrk -v prints it with its usage, and exits 1)."""
    try:
        answer = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    first = (answer.stdout or answer.stderr).strip().splitlines()[:1]
    return first[0].removeprefix("wrk ").split(" Copyright")[0].strip() if first else "unknown"


def _mounted_at(view) -> str:
    """Where bench/floors.py mounts `view`."""
    from bench import floors  # Django's models: not for bench.plot_wrk, which imports this module

    return "/" + next(str(p.pattern) for p in floors.urlpatterns if p.callback is view)


def view_path(name: str) -> str:
    """Where bench/floors.py mounts its view `name` ("noop", "trip")."""
    from bench import floors

    return _mounted_at(getattr(floors, name))


def floor_path(rpc: str) -> str:
    """Where bench/floors.py mounts the floor of `rpc` ("Streams/ListMessages")."""
    from bench import floors

    return _mounted_at(floors.FLOORS[rpc])


@dataclasses.dataclass(frozen=True)
class Request:
    path: str
    body: dict
    key: str | None = None  # sent instead of the seeded key
    refused: bool = False  # every answer should be 400 or more: one that is not is the error


def requests(*, read_id: str, send_id: str, limit: int = 25) -> dict[str, Request]:
    """Every request, in KNOWN's order."""
    return {
        "noop": Request(view_path("noop"), {}),
        "read": Request("/protobuf/Streams/ListMessages", {"conversation_id": read_id, "limit": limit}),
        "send": Request(
            "/protobuf/Streams/CreateMessage",
            {"conversation_id": send_id, "author_id": "wrk", "text": "Hello from wrk, one of many."},
        ),
        "create": Request("/protobuf/Streams/CreateConversation", {"group_id": "bench-wrk", "topic": "made by wrk"}),
        "trip": Request(view_path("trip"), {}),
        "floor": Request(floor_path("Streams/ListMessages"), {"conversation_id": read_id, "limit": limit}),
        "refused": Request(
            "/protobuf/Streams/ListMessages",
            {"conversation_id": read_id, "limit": limit},
            key=WRONG_KEY,
            refused=True,
        ),
    }


def command(url: str, *, path: str, seconds: int, connections: int, threads: int) -> list[str]:
    return [
        path,
        *("-t", str(threads), "-c", str(connections), "-d", f"{seconds}s"),
        "--latency",
        *("-s", str(SCRIPT)),
        url,
    ]


def run(
    url: str,
    *,
    body: dict,
    key: str,
    seconds: int,
    connections: int,
    threads: int,
    path: str = "wrk",
    refused: bool = False,
) -> dict:
    """One wrk run against `url`: parse()'s dict, and `output` (what wrk printed)."""
    env = {
        **os.environ,
        "WRK_BODY": json.dumps(body, separators=(",", ":")),
        "WRK_KEY": key,
        "WRK_CONTENT_TYPE": "application/json",
    }
    argv = command(url, path=path, seconds=seconds, connections=connections, threads=threads)
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60, stdin=subprocess.DEVNULL)
    try:
        if done.returncode:
            raise ValueError(f"exit status {done.returncode}")
        result = parse(done.stdout, refused=refused)
    except ValueError as error:
        said = done.stdout[-2000:] + done.stderr[-2000:]
        raise RuntimeError(f"wrk failed ({error}): {' '.join(argv)}\n{said}") from None
    result["output"] = done.stdout
    return result


def parse(output: str, *, refused: bool = False) -> dict:
    """The figures of the `bench_wrk {...}` line of wrk's output, plus rps
    (requests / duration) and errors: socket errors, and the answers of 400
    or more (non_2xx), or with `refused` (every answer should be one) those
    below 400. ValueError if there is no such line."""
    lines = [line for line in output.splitlines() if line.startswith(MARK)]
    if not lines:
        raise ValueError("no 'bench_wrk' line in wrk's output (was bench/wrk.lua run?)")
    figures = json.loads(lines[-1][len(MARK) :])
    duration = figures["duration_s"]
    figures["rps"] = round(figures["requests"] / duration, 1) if duration > 0 else 0.0
    wrong = figures["requests"] - figures["non_2xx"] if refused else figures["non_2xx"]
    figures["errors"] = sum(figures["socket_errors"].values()) + wrong
    return figures


def measure(server, request: Request, *, key: str, load: Load, path: str) -> dict:
    """Warm-up run, then the measured run with the server's CPU per request
    (µs): the measured run's figures, and `warmup` (its rps and errors)."""
    url = server.base_url + request.path
    options = {
        "body": request.body,
        "key": request.key or key,
        "refused": request.refused,
        "connections": load.connections,
        "threads": load.threads,
    }
    warm = run(url, seconds=load.warmup, path=path, **options) if load.warmup else None
    before = server.cpu_sample()
    result = run(url, seconds=load.seconds, path=path, **options)
    cpu = server.cpu_between(before, server.cpu_sample())
    result.pop("output")
    result["server_cpu_us"] = round(1e6 * cpu / result["requests"]) if result["requests"] else None
    result["warmup"] = {"rps": warm["rps"], "errors": warm["errors"]} if warm else None
    return result


ROUND_FIGURES = ("rps", "p50_ms", "p99_ms", "server_cpu_us", "errors")  # what combine() keeps of each round


def combine(rounds: list[dict]) -> dict:
    """One request's figures over the rounds it ran, in their order (the
    same server, the requests taking turns, so that a drift of the machine
    reaches each alike): the median round's figures by req/s (of an even
    number, the lower middle one), `errors` the sum over every round, and
    `rounds`, each round's ROUND_FIGURES. One round's figures are returned
    as they are."""
    if len(rounds) == 1:
        return rounds[0]
    combined = dict(sorted(rounds, key=lambda r: r["rps"])[(len(rounds) - 1) // 2])
    combined["errors"] = sum(r["errors"] for r in rounds)
    combined["rounds"] = [{name: r.get(name) for name in ROUND_FIGURES} for r in rounds]
    return combined


def rss_per_worker_mb(server) -> list[float]:
    """VmRSS of each worker (MB), from /proc."""
    found = []
    for pid in server.worker_pids():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                found.append(round(int(line.split()[1]) / 1024, 1))
    return sorted(found)
