"""Abuse (issue 5, point 7): per-caller rate limits with 429 and Retry-After,
locked-out logins after repeated failures, and how API keys are found (by
digest, never by comparing the secret), cached and revoked."""

import datetime
import io
import itertools
import subprocess
import sys
import time
from unittest import mock

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench import load
from convoproject.rpc import throttling
from convoproject.rpc.models import RateCounter
from convoproject.tenants import keys
from convoproject.tenants.keys import create_api_key, digest_of, find_active_key
from convoproject.tenants.models import ApiKey, Namespace
from tests.support.rpc import Rpc, assert_envelope
from tests.support.server import ROOT, Server, database_url
from tests.test_concurrency import run_concurrently
from tests.test_production import manage, production_env

LIST = "Streams/ListConversations"
BODY = {"group_id": "g"}
# A fixed moment, 42.25 s into a minute: Retry-After is then 18.
MINUTE = 29_000_000
NOW = MINUTE * 60 + 42.25


@pytest.fixture
def clock():
    """time.time() as the rate limiter sees it; `clock.now` moves it."""
    with mock.patch.object(throttling.time, "time") as fake:
        fake.return_value = NOW
        yield fake


def calls(rpc, n):
    return [rpc.post(LIST, BODY) for _ in range(n)]


# ---------------------------------------------------------------- rate limits


def test_no_limit_by_default(api, settings, clock):
    assert settings.RATE_LIMIT_PER_MINUTE == 0
    assert {r.status_code for r in calls(api, 50)} == {200}
    assert not RateCounter.objects.exists()  # unlimited callers are not even counted


def test_over_the_limit_is_429_with_retry_after(api, settings, clock):
    settings.RATE_LIMIT_PER_MINUTE = 5
    assert [r.status_code for r in calls(api, 5)] == [200] * 5
    refused = api.post(LIST, BODY)
    assert_envelope(refused, 429, "TOO_MANY_REQUESTS", "Rate limit exceeded: retry in 18 s")
    assert refused["Retry-After"] == "18"
    assert api.post("Streams/CreateConversation", {"group_id": "g", "topic": "t"}).status_code == 429

    clock.return_value = NOW + 17.5  # the same minute, half a second before its end
    assert api.post(LIST, BODY)["Retry-After"] == "1"
    clock.return_value = (MINUTE + 1) * 60  # the next minute: a fresh count
    assert [r.status_code for r in calls(api, 5)] == [200] * 5
    assert api.post(LIST, BODY).status_code == 429


def test_refused_writes_write_nothing(api, settings, clock):
    settings.RATE_LIMIT_PER_MINUTE = 1
    api.ok(LIST, BODY)
    response = api.post("Streams/CreateConversation", {"group_id": "g", "topic": "t"})
    assert response.status_code == 429
    clock.return_value = (MINUTE + 1) * 60
    assert api.ok(LIST, BODY) == {"conversations": []}


def test_each_key_has_its_own_count(client, settings, clock, micro_key):
    settings.RATE_LIMIT_PER_MINUTE = 3
    first, second = Rpc(client, key=micro_key), Rpc(client, key=create_api_key("micro")[1])
    assert [r.status_code for r in calls(first, 4)] == [200, 200, 200, 429]
    assert [r.status_code for r in calls(second, 3)] == [200, 200, 200]
    assert sorted(RateCounter.objects.values_list("count", flat=True)) == [3, 4]


def test_a_keys_own_limit_overrides_the_setting(client, db, settings, clock):
    settings.RATE_LIMIT_PER_MINUTE = 3
    namespace = Namespace.objects.create(name="micro")
    _, strict = keys.new_key_for(namespace, rate_limit_per_minute=1)
    _, unlimited = keys.new_key_for(namespace, rate_limit_per_minute=0)
    assert [r.status_code for r in calls(Rpc(client, key=strict), 2)] == [200, 429]
    assert {r.status_code for r in calls(Rpc(client, key=unlimited), 10)} == {200}
    settings.RATE_LIMIT_PER_MINUTE = 0
    _, limited = keys.new_key_for(namespace, rate_limit_per_minute=2)
    assert [r.status_code for r in calls(Rpc(client, key=limited), 3)] == [200, 200, 429]


def test_create_api_key_command_sets_a_keys_limit(client, db, settings, clock):
    out = io.StringIO()
    call_command("create_api_key", "micro", "--rate-limit", "2", stdout=out)
    raw_key = out.getvalue().splitlines()[-1]
    assert ApiKey.objects.get().rate_limit_per_minute == 2
    assert [r.status_code for r in calls(Rpc(client, key=raw_key), 3)] == [200, 200, 429]
    with pytest.raises(CommandError, match="--rate-limit must be 0 or more"):
        call_command("create_api_key", "micro", "--rate-limit", "-1", stdout=io.StringIO())


def test_browser_sessions_are_limited_per_user(client, db, settings, clock):
    settings.RATE_LIMIT_PER_MINUTE = 2
    namespace = Namespace.objects.create(name="micro")
    users = [User.objects.create_user(name, password="pw-123-long") for name in ("ann", "bob")]
    for user in users:
        namespace.members.add(user)
    statuses = []
    for user in users:
        browser = Client()
        browser.force_login(user)
        statuses.append(
            [
                browser.post(f"/protobuf/{LIST}", BODY, "application/json", HTTP_MICRO_NAMESPACE="micro").status_code
                for _ in range(3)
            ]
        )
    assert statuses == [[200, 200, 429], [200, 200, 429]]


def test_unauthenticated_requests_are_not_counted(anon, settings, clock):
    settings.RATE_LIMIT_PER_MINUTE = 1
    assert {r.status_code for r in calls(anon, 3)} == {401}
    assert not RateCounter.objects.exists()


def test_the_limit_costs_one_statement(api, settings, clock, assert_queries):
    settings.RATE_LIMIT_PER_MINUTE = 100
    api.ok(LIST, BODY)  # caches the key
    with assert_queries(2) as captured:  # the count, the list
        api.ok(LIST, BODY)
    assert "ON CONFLICT" in captured.captured_queries[0]["sql"]


@pytest.mark.django_db(transaction=True)
def test_the_count_is_exact_under_concurrency(transactional_db):
    """Every app server counts in the same row: forked processes x threads
    counting at once lose no request (one atomic upsert each)."""
    processes, threads, rounds = 3, 3, 20

    def count(writer, round_):
        return throttling.count_request("key:1", MINUTE)

    results, errors = run_concurrently(count, processes=processes, threads=threads, rounds=rounds)
    assert errors == []
    seen = sorted(itertools.chain.from_iterable(results.values()))
    total = processes * threads * rounds
    assert seen == list(range(1, total + 1))  # each request saw its own number
    assert RateCounter.objects.get(bucket="key:1").count == total


# ---------------------------------------------------------------- login lockout


@pytest.fixture
def moderator(db):
    return User.objects.create_user("mod", password="the-right-password", is_staff=True)


def admin_login(password, *, username="mod", address="203.0.113.5"):
    client = Client(REMOTE_ADDR=address)
    response = client.post("/admin/login/?next=/admin/", {"username": username, "password": password})
    return client, response


@pytest.mark.parametrize("login_url", ["/admin/login/", "/accounts/login/"])
def test_five_failed_logins_lock_the_username_out_from_that_address(moderator, settings, login_url):
    assert settings.AXES_FAILURE_LIMIT == 5
    client = Client(REMOTE_ADDR="203.0.113.5")
    for _ in range(4):
        response = client.post(login_url, {"username": "mod", "password": "wrong"})
        assert response.status_code == 200  # the form again, with its error
    assert client.post(login_url, {"username": "mod", "password": "wrong"}).status_code == 429  # the fifth
    locked = client.post(login_url, {"username": "mod", "password": "the-right-password"})
    assert locked.status_code == 429
    assert locked["Retry-After"] == "900"
    assert "Too many failed logins" in locked.content.decode()
    assert "_auth_user_id" not in client.session  # the right password did not log in

    # Another user from that address, and this user from another, are not blocked.
    other = User.objects.create_user("other", password="the-right-password", is_staff=True)
    assert (
        Client(REMOTE_ADDR="203.0.113.5")
        .post(login_url, {"username": "other", "password": "the-right-password"})
        .status_code
        == 302
    )
    assert other.pk
    assert (
        Client(REMOTE_ADDR="198.51.100.7")
        .post(login_url, {"username": "mod", "password": "the-right-password"})
        .status_code
        == 302
    )


def test_the_lockout_ends_after_the_cool_off(moderator):
    for _ in range(5):
        admin_login("wrong")
    assert admin_login("the-right-password")[1].status_code == 429
    # Fifteen minutes later (the attempts' time moved back instead of the clock).
    AccessAttempt.objects.update(attempt_time=datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=16))
    client, response = admin_login("the-right-password")
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_success_resets_the_count(moderator):
    for _ in range(4):
        admin_login("wrong")
    assert admin_login("the-right-password")[1].status_code == 302
    for _ in range(4):  # four more failures, not nine: the success started the count again
        assert admin_login("wrong")[1].status_code == 200
    assert admin_login("the-right-password")[1].status_code == 302


def test_attempts_are_kept_in_the_database(moderator):
    """So that every app server sees them (not a per-process cache)."""
    for _ in range(2):
        admin_login("wrong")
    attempt = AccessAttempt.objects.get()
    assert (attempt.username, attempt.ip_address, attempt.failures_since_start) == ("mod", "203.0.113.5", 2)


# ---------------------------------------------------------------- API keys: found by digest


def test_the_secret_never_reaches_the_database(client, micro_key):
    """A key is found by its SHA-256 digest through the unique index: the raw
    key is not stored and not sent in any query, so no comparison of the
    secret (and no timing of one) happens anywhere."""
    with CaptureQueriesContext(connection) as captured:
        Rpc(client, key=micro_key).ok(LIST, BODY)
    sql = " ".join(q["sql"] for q in captured.captured_queries)
    assert micro_key not in sql
    assert digest_of(micro_key) in sql
    stored = ApiKey.objects.values().get()
    assert micro_key not in repr(stored)
    assert stored["digest"] == digest_of(micro_key)


def test_the_digest_found_is_checked_in_constant_time(micro_key):
    keys.active_keys.clear()
    with mock.patch.object(keys.hmac, "compare_digest", wraps=keys.hmac.compare_digest) as compare:
        assert find_active_key(micro_key) is not None
    compare.assert_called_once_with(digest_of(micro_key), digest_of(micro_key))


def test_a_key_found_is_the_key_and_namespace_the_orm_loads(db, assert_queries):
    """find_active_key runs its own statement (tenants.statements.active_key),
    not a QuerySet: what it gives must be what the ORM would, every column of
    the key and of its namespace, the namespace already there."""
    api_key, raw = create_api_key("tuned", rate_limit_per_minute=7)
    Namespace.objects.filter(pk=api_key.namespace_id).update(auto_hide_threshold=3)
    keys.active_keys.clear()
    with assert_queries(1):
        found = find_active_key(raw)
    with assert_queries(0):
        namespace = found.namespace
    expected = ApiKey.objects.select_related("namespace").get(pk=api_key.pk)
    for field in ApiKey._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(expected, field.attname), field.name
    for field in Namespace._meta.concrete_fields:
        assert getattr(namespace, field.attname) == getattr(expected.namespace, field.attname), field.name
    assert found.created_at.tzinfo is not None and namespace.created_at.tzinfo is not None
    assert (found.rate_limit_per_minute, namespace.auto_hide_threshold) == (7, 3)
    # Loaded, not new: saving it updates the row rather than inserting another.
    assert not found._state.adding and found._state.db == connection.alias
    found.rate_limit_per_minute = 8
    found.save(update_fields=["rate_limit_per_minute"])
    assert ApiKey.objects.get().rate_limit_per_minute == 8


def test_a_wrong_key_is_refused_with_the_one_lookup_statement(client, micro_key, assert_queries):
    """A wrong key is never cached: each one runs the lookup, which is the
    hot statement rather than an ORM query built for every request."""
    from convoproject.tenants.statements import active_key

    for raw in ("cvk_" + "y" * 43, micro_key[:-1]):
        with assert_queries(1) as captured:
            assert Rpc(client, key=raw).post(LIST, BODY).status_code == 401
        assert captured.captured_queries[0]["sql"].startswith(active_key.sql.split(" FROM ")[0])


def test_a_revoked_key_is_not_found(micro_key):
    keys.revoke_api_key(micro_key)
    keys.active_keys.clear()
    assert find_active_key(micro_key) is None
    assert keys.find_key(micro_key).revoked_at is not None


@pytest.mark.parametrize("change", [str.upper, lambda k: k[:-1], lambda k: k + "x", lambda k: "x" + k])
def test_near_misses_are_refused(client, micro_key, change):
    response = Rpc(client, key=change(micro_key)).post(LIST, BODY)
    assert response.status_code == 401


# ---------------------------------------------------------------- API keys: cached, revoked


@pytest.fixture
def monotonic():
    with mock.patch.object(keys.time, "monotonic") as fake:
        fake.return_value = 1000.0
        yield fake


def test_a_key_is_looked_up_once_then_cached(client, micro_key, monotonic, assert_queries):
    rpc = Rpc(client, key=micro_key)
    with assert_queries(2):  # the key, the list
        rpc.ok(LIST, BODY)
    with assert_queries(1):
        rpc.ok(LIST, BODY)
    monotonic.return_value += 4.01  # API_KEY_CACHE_SECONDS later: looked up again
    with assert_queries(2):
        rpc.ok(LIST, BODY)


def test_unknown_keys_are_not_cached(client, db, assert_queries):
    rpc = Rpc(client, key="cvk_" + "x" * 40)
    for _ in range(3):
        with assert_queries(1):
            assert rpc.post(LIST, BODY).status_code == 401


def test_a_key_revoked_elsewhere_is_refused_within_the_cache_time(client, micro_key, monotonic, settings):
    """Revoked by another server (an UPDATE this process does not see): this
    process accepts it at most API_KEY_CACHE_SECONDS more, which is under the
    contract's 5 s."""
    assert settings.API_KEY_CACHE_SECONDS <= 5
    rpc = Rpc(client, key=micro_key)
    rpc.ok(LIST, BODY)
    ApiKey.objects.update(revoked_at=datetime.datetime.now(datetime.UTC))
    monotonic.return_value += settings.API_KEY_CACHE_SECONDS - 0.01
    assert rpc.post(LIST, BODY).status_code == 200
    monotonic.return_value += 0.02
    assert_envelope(rpc.post(LIST, BODY), 401, "UNAUTHORIZED")


def test_revoking_in_this_process_takes_effect_at_once(client, micro_key):
    rpc = Rpc(client, key=micro_key)
    rpc.ok(LIST, BODY)
    keys.revoke(ApiKey.objects.get())
    assert rpc.post(LIST, BODY).status_code == 401


def test_the_cache_time_cannot_exceed_five_seconds(tmp_path):
    env = production_env(tmp_path, API_KEY_CACHE_SECONDS="6")
    result = manage(env, "check")
    assert result.returncode != 0
    assert "API_KEY_CACHE_SECONDS must be from 0 to 5" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_a_revoked_key_is_refused_by_every_server_process_within_5_seconds(tmp_path):
    """The real thing: gunicorn with two worker processes, both of which have
    the key cached, and `manage.py revoke_api_key` run as a separate process
    (another server). Within 5 s every worker refuses the key; before, no
    request failed in any other way."""
    _, raw_key = create_api_key("micro")
    url = database_url(connection.settings_dict)
    with Server(url, workers=2, threads=2, log_path=tmp_path / "gunicorn.log") as server:
        clients = [load.Client(server.base_url, raw_key) for _ in range(8)]  # connections spread over both workers
        for client in clients * 3:
            assert client.call(LIST, BODY)[0] == 200
        env = {**server.env, "DJANGO_PRODUCTION": "0"}
        revoked = subprocess.run(
            [sys.executable, "manage.py", "revoke_api_key", raw_key, "--reason", "test"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert revoked.returncode == 0, revoked.stderr
        revoked_at = time.monotonic()
        statuses = []
        while time.monotonic() - revoked_at < 5.5:
            for client in clients:
                status = client.call(LIST, BODY)[0]
                statuses.append((time.monotonic() - revoked_at, status))
            time.sleep(0.05)
        assert {status for _, status in statuses} <= {200, 401}
        late = [status for at, status in statuses if at >= 5.0]
        assert late and set(late) == {401}
        for client in clients:
            client.close()
        assert server.log_problems() == []
