"""The benchmark harness (`manage.py bench`, bench/).

1. The floors run the same SQL as the RPCs. For each RPC, the statements it
   runs (as sent to the cursor: template and parameters; the API-key lookup
   and BEGIN/COMMIT/SAVEPOINT left out) must equal its floor's, after
   normalising whitespace and identifier quoting. Parameters must be equal
   too, except, for writes, the values the server makes (new ids, times),
   which must only be of the same kind. A read's answer must be the same
   bytes' worth of JSON; a write's the same shape. When an RPC's queries
   change, this fails and shows the statements to copy into bench/floors.py.
2. A tiny run of the whole command: seed, gunicorn, every RPC and its floor,
   the growth series, the results files; on whichever database the tests use.
"""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import resolve

from bench import capture, floors
from bench.management.commands.bench import Command as BenchCommand
from bench.management.commands.profile_rpcs import Command as ProfileCommand
from bench.workload import RPCS, TARGETS
from chats.models import Chat, members_key_of

pytestmark = pytest.mark.django_db


def as_floor(rpc, key, body):
    request = RequestFactory().post(
        f"/{floors.URL_PREFIX}{rpc}",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    return floors.FLOORS[rpc](request)


def run_both(api, micro_key, rpc, body, floor_body=None, between=None):
    """(RPC statements, RPC answer, floor statements, floor answer)."""
    with capture.capture() as rpc_sql:
        answer = api.ok(rpc, body)
    if between:
        between()
    with capture.capture() as floor_sql:
        response = as_floor(rpc, micro_key, floor_body or body)
    assert response.status_code == 200, response.content
    return rpc_sql, answer, floor_sql, json.loads(response.content)


def shown(captured):
    return "\n".join(f"  {sql}\n    {params}" for sql, params in captured)


def assert_same_sql(rpc, rpc_sql, floor_sql, write):
    message = f"{rpc}: the floor (bench/floors.py) no longer runs the RPC's SQL.\nRPC:\n{shown(rpc_sql)}\n"
    message += f"floor:\n{shown(floor_sql)}"
    assert [capture.normalise_sql(s) for s, _ in rpc_sql] == [capture.normalise_sql(s) for s, _ in floor_sql], message
    for (_, rpc_params), (_, floor_params) in zip(rpc_sql, floor_sql, strict=True):
        assert len(rpc_params or ()) == len(floor_params or ()), message
        for mine, theirs in zip(rpc_params or (), floor_params or (), strict=True):
            if write and (capture.generated(mine) or capture.generated(theirs)):
                assert capture.generated(mine) and capture.generated(theirs), message
            else:
                assert capture.normalise_param(mine) == capture.normalise_param(theirs), message


def assert_same_shape(rpc_answer, floor_answer, generated=("id", "created_at", "sent_at")):
    """Same keys all the way down; equal values but for the ones the server makes."""
    if isinstance(rpc_answer, dict):
        assert isinstance(floor_answer, dict) and rpc_answer.keys() == floor_answer.keys()
        for key in rpc_answer:
            if key in generated:
                assert isinstance(floor_answer[key], str) and len(floor_answer[key]) == len(rpc_answer[key])
            else:
                assert_same_shape(rpc_answer[key], floor_answer[key], generated)
    else:
        assert rpc_answer == floor_answer


@pytest.fixture
def data(api):
    conversation = api.conversation("g", "a topic")["id"]
    messages = [api.message(conversation, text=f"message {k}", author_id="alice") for k in range(30)]
    empty = api.conversation("g", "no messages yet")["id"]
    chat = api.chat(["bob", "alice"])["id"]
    chat_messages = [api.chat_message(chat, "alice", f"hi {k}") for k in range(30)]
    return {
        "conversation": conversation,
        "middle": messages[12]["sent_at"],
        "empty": empty,
        "chat": chat,
        "chat_middle": chat_messages[7]["sent_at"],
    }


READ_CASES = {
    "Streams/ReadConversation": lambda d: {"id": d["conversation"]},
    "Streams/ListConversations": lambda d: {"group_id": "g"},
    "Streams/ListMessages": lambda d: {"conversation_id": d["conversation"]},
    "Streams/ListMessages, sent_before": lambda d: {
        "conversation_id": d["conversation"],
        "sent_before": d["middle"],
        "limit": 5,
    },
    "Streams/ListMessages, empty page": lambda d: {"conversation_id": d["empty"]},
    "Streams/RecentMessages": lambda d: {
        "conversation_ids": [d["conversation"], d["empty"], d["conversation"], "not an id", d["chat"]],
        "limit_per_conversation": 3,
    },
    "Chats/ListMessages": lambda d: {"chat_id": d["chat"]},
    "Chats/ListMessages, sent_before": lambda d: {"chat_id": d["chat"], "sent_before": d["chat_middle"]},
}


@pytest.mark.parametrize("case", READ_CASES)
def test_a_read_floor_runs_the_rpcs_sql_and_answers_the_same(api, micro_key, data, case):
    rpc = case.split(",")[0]
    body = READ_CASES[case](data)
    rpc_sql, answer, floor_sql, floor_answer = run_both(api, micro_key, rpc, body)
    assert rpc_sql, "the RPC ran no SQL"
    assert_same_sql(rpc, rpc_sql, floor_sql, write=False)
    assert floor_answer == answer


def test_create_conversation(api, micro_key, data):
    rpc_sql, answer, floor_sql, floor_answer = run_both(
        api, micro_key, "Streams/CreateConversation", {"group_id": "g", "topic": "new"}
    )
    assert_same_sql("Streams/CreateConversation", rpc_sql, floor_sql, write=True)
    assert_same_shape(answer, floor_answer)


@pytest.mark.parametrize("rpc", ["Streams/UpdateConversation", "Streams/DeleteConversation"])
def test_the_orm_paths_have_no_floor(rpc):
    """Not hot: they run through the ORM (streams/services.py), so there is no statement to share."""
    assert rpc in RPCS and rpc not in floors.FLOORS


@pytest.mark.parametrize("rpc", ["Streams/CreateMessage", "Chats/CreateMessage"])
def test_create_message(api, micro_key, data, rpc):
    if rpc == "Streams/CreateMessage":
        body = {"conversation_id": data["conversation"], "author_id": "bob", "text": "more"}
    else:
        body = {"chat_id": data["chat"], "author_id": "bob", "text": "more"}
    rpc_sql, answer, floor_sql, floor_answer = run_both(api, micro_key, rpc, body)
    assert_same_sql(rpc, rpc_sql, floor_sql, write=True)
    assert_same_shape(answer, floor_answer)
    assert floor_answer["message"]["sent_at"] > answer["message"]["sent_at"]  # the ordering rule, kept


def test_create_chat_for_a_new_set_of_users(api, micro_key, data):
    body = {"user_ids": ["zoe", "yann", "xavier"]}
    rpc_sql, answer, floor_sql, floor_answer = run_both(
        api,
        micro_key,
        "Chats/CreateChat",
        body,
        between=lambda: Chat.objects.filter(members_key=members_key_of(body["user_ids"])).delete(),
    )
    assert_same_sql("Chats/CreateChat", rpc_sql, floor_sql, write=True)
    assert_same_shape(answer, floor_answer)


def test_create_chat_for_a_known_set_of_users(api, micro_key, data):
    rpc_sql, answer, floor_sql, floor_answer = run_both(
        api, micro_key, "Chats/CreateChat", {"user_ids": ["alice", "bob"]}
    )
    assert_same_sql("Chats/CreateChat", rpc_sql, floor_sql, write=True)
    assert floor_answer == answer


def test_every_hot_rpc_has_a_floor_and_a_case_here():
    assert set(floors.FLOORS) == set(RPCS) - {"Streams/UpdateConversation", "Streams/DeleteConversation"}
    tested = {case.split(",")[0] for case in READ_CASES}
    tested |= {"Streams/CreateConversation", "Streams/CreateMessage", "Chats/CreateMessage", "Chats/CreateChat"}
    assert tested == set(floors.FLOORS)
    assert {rpc for rpc, target in TARGETS.items() if target == 0.8} == {
        "Streams/ListMessages",
        "Chats/ListMessages",
        "Streams/RecentMessages",
        "Streams/ReadConversation",
        "Streams/ListConversations",
    }


def test_the_product_installs_no_bench_and_mounts_no_floor(client, settings):
    assert "bench" not in settings.INSTALLED_APPS and settings.ROOT_URLCONF == "convoproject.urls"
    for view in (floors.noop, floors.trip):
        assert client.post(f"/bench-floor/{view.__name__}").status_code == 404
        assert resolve(f"/bench-floor/{view.__name__}", urlconf="bench.urls").func is view  # bench.settings' URLconf


@pytest.mark.django_db(transaction=True)
def test_a_tiny_bench_run_measures_every_rpc_its_floor_and_the_growth_series(tmp_path):
    out, err = StringIO(), StringIO()
    call_command(
        BenchCommand(),
        *["--namespaces", "1", "--conversations", "8", "--chats", "4", "--messages", "400"],
        *["--growth", "30,90", "--recent-conversations", "5"],
        *["--requests", "12", "--warmup", "3", "--growth-requests", "6", "--growth-rounds", "1", "--concurrency", "2"],
        *["--workers", "1", "--threads", "2", "--results", str(tmp_path)],
        stdout=out,
        stderr=err,
    )
    text = out.getvalue()
    for rpc in RPCS:
        line = next((line for line in text.splitlines() if line.startswith(rpc + " ")), None)
        assert line is not None, f"no row for {rpc} in:\n{text}"
    assert "(no SQL: noop view)" in text
    assert "Growth series" in text and "RecentMessages over 5 conversations" in text
    vendor = "postgresql" if "postgresql" in text.split("Database:", 1)[1][:20] else "sqlite"
    results = json.loads((tmp_path / f"latest-{vendor}.json").read_text())
    assert [entry["rpc"] for entry in results["rpcs"]] == RPCS
    for entry in results["rpcs"]:
        assert entry["rpc_phase"]["requests"] == 12 and entry["rpc_phase"]["errors"] == 0, entry
        if entry["rpc"] not in floors.FLOORS:
            assert "floor_phase" not in entry and "ratio" not in entry, entry
            continue
        assert entry["floor_phase"]["requests"] == 12 and entry["floor_phase"]["errors"] == 0, entry
        assert entry["ratio"] > 0
    assert [row["size"] for row in results["growth"]["sizes"]] == [30, 90]
    assert results["recent"]["phase"]["errors"] == 0 and results["recent"]["sql_statements"] == 1
    assert (tmp_path / f"latest-{vendor}.csv").read_text().startswith("section,name,variant,size")
    # Run again: the data is reused, not seeded twice.
    call_command(
        BenchCommand(),
        *["--growth", "30", "--recent-conversations", "5", "--only", "ListMessages", "--no-floors"],
        *["--requests", "4", "--warmup", "0", "--growth-requests", "4", "--workers", "1", "--results", str(tmp_path)],
        stdout=StringIO(),
        stderr=(err2 := StringIO()),
    )
    assert "Using the data seeded before" in err2.getvalue()
    # The in-process profiler runs every RPC and its floor on the same data.
    profiled = StringIO()
    call_command(ProfileCommand(), "--requests", "5", "--warmup", "1", stdout=profiled)
    rows = profiled.getvalue().splitlines()[1:]
    assert [row.split()[0] for row in rows] == [rpc for rpc in RPCS if rpc in floors.FLOORS]
    assert all(float(row.split()[1]) > 0 and float(row.split()[2]) > 0 for row in rows)
