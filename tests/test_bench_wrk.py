"""`manage.py bench_wrk` (bench/wrk.py, wrk_data.py, wrk_report.py, plot_wrk.py),
the parts that need no wrk: reading the line bench/wrk.lua prints, the
seeding, the four requests answering 200 on it, the tables and the summary
from a results dict, the plot's groups, and the command's refusal without
wrk. No test runs wrk (CI has none, and a run takes seconds).
"""

import datetime
import json
import os
import re
import subprocess
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test.utils import override_settings
from django.urls import resolve
from django.utils import timezone

from bench import floors, plot_wrk, wrk, wrk_data, wrk_report
from bench.management.commands import bench_wrk
from convoproject.tenants.models import ApiKey
from streams.models import Conversation, Message

LINE = (
    'bench_wrk {"requests": 3000, "duration_s": 15.000000, "p50_ms": 8.100, "p90_ms": 20.000, "p99_ms": 41.500, '
    '"max_ms": 120.250, "socket_errors": {"connect": 0, "read": 1, "write": 0, "timeout": 2}, "non_2xx": 3}'
)
WRK_OUTPUT = f"""Running 15s test @ http://127.0.0.1:8000/protobuf/Streams/ListMessages
  2 threads and 16 connections
  Latency Distribution
     50%    8.10ms
  3000 requests in 15.00s, 1.00MB read
Requests/sec:    200.00
{LINE}
"""


# ---------------------------------------------------------------- wrk's answer


def test_parse_reads_the_done_line():
    figures = wrk.parse(WRK_OUTPUT)
    assert figures["requests"] == 3000
    assert figures["rps"] == 200.0
    assert (figures["p50_ms"], figures["p90_ms"], figures["p99_ms"], figures["max_ms"]) == (8.1, 20.0, 41.5, 120.25)
    assert figures["socket_errors"] == {"connect": 0, "read": 1, "write": 0, "timeout": 2}
    assert figures["non_2xx"] == 3
    assert figures["errors"] == 6  # socket errors and non-2xx answers


def test_parse_of_a_refused_run_counts_the_answers_not_refused():
    """A run of wrong keys expects every answer to be 401: those below 400 (a
    key let through) are its errors, with the socket errors."""
    figures = wrk.parse(WRK_OUTPUT, refused=True)
    assert figures["errors"] == 3 + (3000 - 3)


def test_parse_without_the_line_fails():
    with pytest.raises(ValueError, match="bench_wrk"):
        wrk.parse("Running 15s test @ http://127.0.0.1:8000/\nRequests/sec: 10\n")


def test_the_lua_script_prints_what_parse_reads():
    script = wrk.SCRIPT.read_text()
    assert 'wrk.method = "POST"' in script
    for variable in ("WRK_BODY", "WRK_KEY", "WRK_CONTENT_TYPE"):
        assert f'os.getenv("{variable}")' in script
    assert "summary.errors" in script and "e.status" in script
    keys = re.findall(r'"(\w+)":', LINE)
    assert keys and all(f'"{key}": %' in script for key in keys if key != "socket_errors")
    assert '"socket_errors": {' in script
    assert "function response" not in script  # wrk would parse every answer into Lua


def test_wrk_command_line():
    argv = wrk.command("http://127.0.0.1:1/x", path="/usr/bin/wrk", seconds=15, connections=16, threads=2)
    script = str(wrk.SCRIPT)
    assert argv == [
        "/usr/bin/wrk",
        "-t",
        "2",
        "-c",
        "16",
        "-d",
        "15s",
        "--latency",
        "-s",
        script,
        "http://127.0.0.1:1/x",
    ]


def test_view_path_is_where_the_floors_mount_the_view():
    assert resolve(wrk.view_path("noop"), urlconf="bench.urls").func is floors.noop
    assert resolve(wrk.view_path("trip"), urlconf="bench.urls").func is floors.trip


# ---------------------------------------------------------------- the data


@pytest.mark.django_db
def test_seed_makes_5000_messages_and_one_key():
    seeded = wrk_data.seed(log=lambda text: None)
    assert seeded.made and seeded.read_messages == 5000
    read = Message.objects.filter(conversation_id=seeded.read_id)
    sent = list(read.order_by("sent_at").values_list("sent_at", flat=True))
    assert len(sent) == 5000 == len(set(sent))
    assert sent[-1] < timezone.now() - datetime.timedelta(hours=23)
    assert not Message.objects.filter(conversation_id=seeded.send_id).exists()
    assert ApiKey.objects.filter(namespace__name=wrk_data.NAMESPACE).count() == 1

    again = wrk_data.seed(log=lambda text: None)
    assert not again.made and again.read_id == seeded.read_id and again.send_id != seeded.send_id
    assert again.key != seeded.key
    assert ApiKey.objects.filter(namespace__name=wrk_data.NAMESPACE).count() == 1
    assert Conversation.objects.filter(namespace__name=wrk_data.NAMESPACE, topic=wrk_data.READ_TOPIC).count() == 1


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="bench.urls", RATE_LIMIT_PER_MINUTE=0)
def test_the_requests_answer_200_and_the_wrong_key_401(client):
    seeded = wrk_data.seed(messages=30, log=lambda text: None)
    requests = wrk.requests(read_id=seeded.read_id, send_id=seeded.send_id)
    assert list(requests) == list(wrk.KNOWN) == [*wrk.REQUESTS, "trip", "floor", "refused"]
    assert set(wrk.DESCRIPTIONS) == set(wrk.KNOWN)
    for name, request in requests.items():
        key = request.key or seeded.key
        response = client.post(
            request.path, json.dumps(request.body), "application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
        )
        if request.refused:
            assert (name, response.status_code, response.json()["code"]) == ("refused", 401, 401)
            # Refused for its key alone: the same body with the seeded key is a read.
            assert request.body == requests["read"].body and request.key == wrk.WRONG_KEY
            continue
        assert response.status_code == 200, (name, response.content)
        if name in ("read", "floor"):
            assert len(response.json()["messages"]) == 25
    assert requests["floor"].body == requests["read"].body and requests["floor"].path.startswith("/bench-floor/")
    assert Message.objects.filter(conversation_id=seeded.send_id).count() == 1


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="bench.urls")
def test_the_trip_is_the_noop_plus_one_statement(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        noop = client.post(wrk.view_path("noop"), "{}", "application/json")
    with django_assert_num_queries(1) as captured:
        trip = client.post(wrk.view_path("trip"), "{}", "application/json")
    assert captured.captured_queries[0]["sql"] == "SELECT 1"
    assert (trip.status_code, trip.content) == (noop.status_code, noop.content) == (200, b"{}")


# ---------------------------------------------------------------- tables


def figures(rps, p99=40.0, errors=0):
    return {"rps": rps, "p50_ms": 10.0, "p90_ms": 20.0, "p99_ms": p99, "server_cpu_us": 900, "errors": errors}


def layout(workers, noop, send, read, create, errors=0):
    runs = {"noop": figures(noop), "read": figures(read), "send": figures(send, p99=64.4, errors=errors)}
    runs["create"] = figures(create)
    return {"workers": workers, "threads": 4, "rss_mb": [80.0, 82.5][:workers], "results": runs}


def results(errors=0):
    return {
        "meta": {
            "started": "2026-11-30T08:00:00+00:00",
            "label": "",
            "git": {"commit": "0123456789abcdef", "dirty": False},
            "machine": {"cores": 2, "cpu": "AMD EPYC", "memory_gb": 23.5, "system": "Linux", "python": "3.11.7"},
            "django": "5.2",
            "wrk": "debian/4.1.0-3+b2 [epoll]",
            "load": {"seconds": 15, "warmup": 5, "connections": 16, "wrk_threads": 2, "keep_alive": True},
            "workers": 2,
            "threads": 4,
            "layouts": [2, 1],
            "load_before": [1.0, 1.0, 1.0],
            "load_after": [1.5, 1.0, 1.0],
            "requests": wrk.DESCRIPTIONS,
        },
        "databases": [
            {
                "vendor": "postgresql",
                "version": "15.20",
                "name": "convo_benchwrk",
                "layouts": [layout(2, 1000.0, 250.0, 500.0, 400.0, errors), layout(1, 800.0, 200.0, 400.0, 300.0)],
            },
            {"vendor": "sqlite", "name": "wrk.sqlite3", "error": "its run failed (exit status 1): see above."},
        ],
    }


REFERENCE = {
    "name": "Synapse",
    "source": "issue 13",
    "databases": {"postgresql": {"send": {"rps": 50.0, "p99_ms": 299}, "read": {"rps": 250.0, "p99_ms": 136}}},
}


def test_database_table_has_every_run_and_its_ceiling():
    text = wrk_report.database_table(results()["databases"][0])
    assert text.startswith("PostgreSQL 15.20 (convo_benchwrk)")
    rows = [line.split() for line in text.splitlines()]
    assert ["2", "x", "4", "noop", "1,000", "10.00", "40.00", "900", "0", "1.00"] in rows
    assert ["send", "250", "10.00", "64.40", "900", "0", "0.25"] in rows
    assert ["1", "x", "4", "noop", "800", "10.00", "40.00", "900", "0", "1.00"] in rows
    assert ["create", "300", "10.00", "40.00", "900", "0", "0.38"] in rows
    assert "2 x 4: 80.0-82.5 MB; 1 x 4: 80.0 MB" in text
    assert "PostgreSQL backends" in text


def test_a_failed_database_is_shown_and_fails_the_run():
    data = results()
    assert "SQLite (wrk.sqlite3): FAILED" in wrk_report.text(data)
    assert wrk_report.failures(data) == ["SQLite: its run failed (exit status 1): see above."]
    assert wrk_report.errors(data) == 0 and wrk_report.errors(results(errors=7)) == 7


def test_summary_with_the_reference():
    text = wrk_report.summary_table(results(), REFERENCE)
    lines = text.splitlines()
    assert lines[0].split() == [
        *("send", "req/s", "(p99", "ms)", "read", "req/s", "(p99", "ms)", "create", "req/s", "(p99", "ms)"),
        *("send", "x", "Synapse", "read", "x", "Synapse", "create", "x", "Synapse"),
    ]
    ours = next(line for line in lines if line.startswith("this project, PostgreSQL, 2 workers"))
    assert ours.split()[5:] == ["250.0", "(64)", "500.0", "(40)", "400.0", "(40)", "5.0x", "2.0x", "-"]
    assert any(line.startswith("this project, PostgreSQL, 1 worker ") for line in lines)
    theirs = next(line for line in lines if line.startswith("Synapse, PostgreSQL (issue 13)"))
    assert theirs.split()[-5:] == ["50.0", "(299)", "250.0", "(136)", "-"]


def test_summary_without_a_reference_has_no_ratio_columns():
    text = wrk_report.summary_table(results())
    assert "x Synapse" not in text and "x reference" not in text
    assert "this project, PostgreSQL, 2 workers" in text


def test_the_committed_reference_names_its_source_and_has_every_figure():
    """Synapse measured on this machine (docs/PERFORMANCE.md): each of the
    three requests on both databases, req/s and p99, and where they come from."""
    reference = wrk_report.load_reference(bench_wrk.RESULTS / "reference-synapse.json")
    assert reference["name"] == "Synapse" and "Synapse 1.163.2" in reference["source"]
    assert "issue 13" in reference["note"].lower()  # the issue's own figures are kept beside them
    for database in ("postgresql", "sqlite"):
        for request in ("send", "read", "create"):
            figure = reference["databases"][database][request]
            assert figure["rps"] > 0 and (figure["p99_ms"] is None or figure["p99_ms"] > 0), (database, request)


def test_a_refused_run_is_a_row_after_the_others_and_a_bar_of_its_own(tmp_path):
    run = results()
    entry = run["databases"][0]
    entry["layouts"][1]["results"]["refused"] = figures(600.0)
    rows = [line.split() for line in wrk_report.database_table(entry).splitlines()]
    first = next(n for n, row in enumerate(rows) if row[:4] == ["1", "x", "4", "noop"])
    assert [row[0] for row in rows[first + 1 : first + 5]] == ["read", "send", "create", "refused"]
    assert ["refused", "600", "10.00", "40.00", "900", "0", "0.75"] in rows
    assert plot_wrk.groups(run)[1][1]["refused"] == 600.0
    drawn = plot_wrk.plot(run, tmp_path / "wrk.png")
    assert drawn.stat().st_size > 0


def test_plot_groups():
    groups = plot_wrk.groups(results(), REFERENCE)
    assert [label.split("\n")[:2] for label, _, _, _ in groups] == [
        ["PostgreSQL", "2 workers"],
        ["PostgreSQL", "1 worker"],
        ["PostgreSQL", "Synapse"],
    ]
    assert groups[0][1] == {"noop": 1000.0, "read": 500.0, "send": 250.0, "create": 400.0}
    assert groups[2][1] == {"send": 50.0, "read": 250.0} and groups[2][2]
    assert groups[0][3] == {}  # one round: no spans


def test_a_run_sends_the_requests_own_key_and_expects_its_refusal(monkeypatch):
    """measure() hands wrk the request's key when it has one (refused), the
    seeded key otherwise, and says which answers are errors."""
    runs = []

    def run(url, **options):
        runs.append((url, options["key"], options["refused"]))
        return {"requests": 10, "rps": 5.0, "errors": 0, "output": ""}

    class FakeServer:
        base_url = "http://127.0.0.1:1"

        def cpu_sample(self):
            return 0.0

        def cpu_between(self, before, after):
            return 0.001

    monkeypatch.setattr(wrk, "run", run)
    requests = wrk.requests(read_id="r", send_id="s")
    load = wrk.Load(seconds=1, warmup=0)
    for name in ("read", "refused"):
        wrk.measure(FakeServer(), requests[name], key="the-seeded-key", load=load, path="wrk")
    assert runs == [
        ("http://127.0.0.1:1/protobuf/Streams/ListMessages", "the-seeded-key", False),
        ("http://127.0.0.1:1/protobuf/Streams/ListMessages", wrk.WRONG_KEY, True),
    ]


def test_combine_takes_the_median_round_and_every_rounds_errors():
    rounds = [figures(900.0, p99=50.0), figures(1200.0, p99=30.0, errors=2), figures(1000.0, p99=40.0, errors=1)]
    combined = wrk.combine(rounds)
    assert (combined["rps"], combined["p99_ms"]) == (1000.0, 40.0)  # one round's figures, not a mix
    assert combined["errors"] == 3
    assert [r["rps"] for r in combined["rounds"]] == [900.0, 1200.0, 1000.0]  # in the order they ran
    assert set(combined["rounds"][0]) == set(wrk.ROUND_FIGURES)
    assert wrk.combine(rounds[:2])["rps"] == 900.0  # of two, the lower
    assert wrk.combine(rounds[:1]) == rounds[0]  # one round: as it was


def rounds_layout():
    """noop and read over three rounds whose ratios (0.6, 0.8, 0.5) have a
    median (0.6) other than the ratio of the medians (500 / 1000)."""
    noop = wrk.combine([figures(1000.0), figures(500.0), figures(1000.0)])
    read = wrk.combine([figures(600.0), figures(400.0), figures(500.0, errors=1)])
    return {"workers": 2, "threads": 4, "rss_mb": [80.0], "results": {"noop": noop, "read": read}}


def test_the_ceiling_over_rounds_is_the_median_of_each_rounds_ratio():
    layout = rounds_layout()
    assert wrk_report.ceilings(layout, "read") == [0.6, 0.8, 0.5]
    assert wrk_report.ceiling(layout, "read") == 0.6
    assert wrk_report.ceiling(layout, "noop") == 1.0
    assert wrk_report.ceiling(layout, "send") is None


def test_database_table_over_rounds_shows_their_spans(tmp_path):
    entry = {"vendor": "sqlite", "name": "wrk.sqlite3", "layouts": [rounds_layout()]}
    text = wrk_report.database_table(entry)
    rows = [line.split() for line in text.splitlines()]
    header = "layout request req/s rounds req/s p50 ms p99 ms CPU us/req errors /ceiling rounds /ceiling"
    assert rows[1] == header.split()
    assert ["2", "x", "4", "noop", "1,000", "500-1,000", "10.00", "40.00", "900", "0", "1.00", "1.00-1.00"] in rows
    assert ["read", "500", "400-600", "10.00", "40.00", "900", "1", "0.60", "0.50-0.80"] in rows
    assert "Over 3 rounds" in text
    (group,) = plot_wrk.groups({"databases": [entry]})
    assert group[1] == {"noop": 1000.0, "read": 500.0}
    assert group[3] == {"noop": (500.0, 1000.0), "read": (400.0, 600.0)}
    run = results()
    run["databases"][0]["layouts"] = [rounds_layout()]
    assert plot_wrk.plot(run, tmp_path / "wrk.png").stat().st_size > 0
    one_round = wrk_report.database_table(results()["databases"][0])
    assert "rounds" not in one_round.splitlines()[1]


def test_a_layout_runs_the_requests_in_turn_each_round(monkeypatch, tmp_path):
    """--rounds 2: noop, read, noop, read on one server; each request's figures combined."""
    measured = []

    class FakeServer:
        host, port = "127.0.0.1", 1

        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def log_problems(self):
            return []

    def measure(server, request, **options):
        measured.append(request.path)
        return figures(100.0 * len(measured))

    monkeypatch.setattr(bench_wrk, "Server", FakeServer)
    monkeypatch.setattr(bench_wrk.growth, "analyze", lambda say: None)
    monkeypatch.setattr(wrk, "measure", measure)
    monkeypatch.setattr(wrk, "rss_per_worker_mb", lambda server: [80.0])
    command = bench_wrk.Command(stdout=StringIO(), stderr=StringIO())
    command.o = {"results": str(tmp_path), "threads": 4, "rounds": 2, "warmup": 1, "seconds": 1}
    command.say = command.begin = lambda *a, **k: None
    command.load, command.wrk_path = wrk.Load(seconds=1, warmup=1), "wrk"
    requests = {"noop": wrk.Request("/noop", {}), "read": wrk.Request("/read", {})}
    layout = command.run_layout("sqlite:///x", 2, requests, "key")
    assert measured == ["/noop", "/read", "/noop", "/read"]
    assert [r["rps"] for r in layout["results"]["noop"]["rounds"]] == [100.0, 300.0]
    assert [r["rps"] for r in layout["results"]["read"]["rounds"]] == [200.0, 400.0]
    assert wrk_report.ceilings(layout, "read") == [2.0, 400.0 / 300.0]


def test_layouts_option():
    assert bench_wrk.worker_counts("default,1", default=4) == [4, 1]
    assert bench_wrk.worker_counts("1, default", default=1) == [1]
    with pytest.raises(CommandError):
        bench_wrk.worker_counts("two", default=4)
    assert bench_wrk.without_password("postgres://u:secret@h:5432/d") == "postgres://u:***@h:5432/d"


# ---------------------------------------------------------------- the command


def test_refuses_without_wrk(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(CommandError, match="apt-get install wrk"):
        call_command(bench_wrk.Command(), stdout=StringIO(), stderr=StringIO())


def test_refuses_without_wrk_which(monkeypatch):
    monkeypatch.setattr(wrk.shutil, "which", lambda name: None)
    with pytest.raises(CommandError, match=r"wrk is not installed.*apt-get install wrk"):
        call_command(bench_wrk.Command(), stdout=StringIO(), stderr=StringIO())


def test_refuses_requests_it_does_not_know(monkeypatch):
    monkeypatch.setattr(wrk, "executable", lambda: "/usr/bin/wrk")
    for asked in ("noop,reed", " , "):
        with pytest.raises(CommandError, match="--requests takes some of noop,read,send,create,trip,floor,refused"):
            call_command(bench_wrk.Command(), requests=asked, stdout=StringIO(), stderr=StringIO())


def test_passes_the_requests_asked_to_each_database(monkeypatch, tmp_path):
    """A subset (an A/B of reads) reaches the per-database subprocess."""
    monkeypatch.setattr(wrk, "executable", lambda: "/usr/bin/wrk")
    monkeypatch.setattr(wrk, "version", lambda path: "test")
    argvs = []

    real_run = subprocess.run

    def run(argv, **kwargs):
        if "--one-database" not in argv:  # git, for the results' metadata
            return real_run(argv, **kwargs)
        argvs.append(argv)
        return subprocess.CompletedProcess(argv, 1)

    monkeypatch.setattr(bench_wrk.subprocess, "run", run)
    with pytest.raises(CommandError):  # the stand-in subprocess wrote no results
        call_command(
            bench_wrk.Command(),
            requests="noop,read",
            rounds=3,
            databases="sqlite",
            results=str(tmp_path),
            reference="",
            stdout=StringIO(),
            stderr=StringIO(),
        )
    (argv,) = argvs
    assert argv[argv.index("--requests") + 1] == "noop,read"
    assert argv[argv.index("--rounds") + 1] == "3"


def test_prints_writes_then_fails_on_errors(monkeypatch, tmp_path):
    """The run over the databases, their subprocesses stood in for."""
    monkeypatch.setattr(wrk, "executable", lambda: "/usr/bin/wrk")
    monkeypatch.setattr(wrk, "version", lambda path: "test")
    entries = {e["vendor"]: e for e in results(errors=3)["databases"]}
    monkeypatch.setattr(bench_wrk.Command, "run_subprocess", lambda self, vendor: entries[vendor])
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command(bench_wrk.Command(), results=str(tmp_path), stdout=out, stderr=StringIO())
    assert "SQLite: its run failed" in str(failed.value) and "3 requests failed" in str(failed.value)
    printed = out.getvalue()
    assert "PostgreSQL 15.20 (convo_benchwrk)" in printed and "Summary: req/s (p99 ms)" in printed
    assert "x Synapse" in printed  # the committed reference
    saved = json.loads((tmp_path / "latest-wrk.json").read_text())
    assert [e["vendor"] for e in saved["databases"]] == ["sqlite", "postgresql"]
    assert saved["meta"]["wrk"] == "test" and saved["meta"]["layouts"] == [2 * (os.cpu_count() or 1), 1]
    assert (tmp_path / "latest-wrk.md").read_text().count("this project, PostgreSQL") == 2
    assert len(list(tmp_path.glob("wrk-*.json"))) == 1
