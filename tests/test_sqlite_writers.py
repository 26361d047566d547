"""SQLite's writers queue before BEGIN IMMEDIATE (convoproject/db/sqlite3):
an atomic block takes this process's writer lock and the flock on
`<database>-writer.lock` first, and lets both go at COMMIT, at ROLLBACK and
when its connection closes; inner atomic blocks (savepoints) take nothing,
and neither do autocommit statements. A writer that waits past the
connection's timeout fails with OperationalError, as SQLite's own "database
is locked" does.

Where the locks must be what keeps writers apart, SQLite's own busy wait is
switched off (busy_timeout 0): a BEGIN IMMEDIATE that found the database
locked would fail at once.
"""

import fcntl
import multiprocessing
import os
import signal
import threading
import time

import pytest
from django.db import OperationalError, connection, connections, transaction

from convoproject.db.sqlite3.base import HandOverLock, writer_lock
from convoproject.tenants.models import Namespace

pytestmark = [
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's writer lock"),
    pytest.mark.django_db(transaction=True),
]

FORK = multiprocessing.get_context("fork")


@pytest.fixture
def timeout(monkeypatch):
    """The writers' timeout (the connections' OPTIONS, shared by every thread's)."""
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.3)
    connection.close()  # reopened with it
    yield 0.3
    connection.close()  # and again without it


@pytest.fixture
def lock(transactional_db):
    return writer_lock(os.path.abspath(connection.settings_dict["NAME"]))


def other_process_holds(lock_path):
    """Whether the flock is taken, as another process would find it (an open file of its own)."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def held(lock):
    return lock.threads.locked(), other_process_holds(lock.path)


def in_thread(target, *args):
    """Run target(*args) in a thread with its own connection; its result or exception."""
    outcome = {}

    def run():
        try:
            outcome["result"] = target(*args)
        except Exception as error:
            outcome["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def write(name):
    with transaction.atomic():
        Namespace.objects.create(name=name)


def test_an_atomic_block_holds_the_locks_until_commit(lock):
    assert held(lock) == (False, False)
    with transaction.atomic():
        Namespace.objects.create(name="a")
        assert held(lock) == (True, True)
    assert held(lock) == (False, False)
    assert Namespace.objects.filter(name="a").exists()


def test_a_rollback_releases_them(lock):
    with pytest.raises(ValueError), transaction.atomic():
        Namespace.objects.create(name="a")
        assert held(lock) == (True, True)
        raise ValueError
    assert held(lock) == (False, False)
    assert not Namespace.objects.filter(name="a").exists()


def test_closing_the_connection_releases_them(lock):
    with transaction.atomic():
        Namespace.objects.create(name="a")
        assert held(lock) == (True, True)
        connection.close()
        assert held(lock) == (False, False)
    assert not Namespace.objects.filter(name="a").exists()


def test_nested_atomic_blocks_take_them_once(lock, timeout):
    started = time.monotonic()
    with transaction.atomic():
        with transaction.atomic():
            Namespace.objects.create(name="a")
            with pytest.raises(ValueError), transaction.atomic():
                Namespace.objects.create(name="b")
                raise ValueError
        assert held(lock) == (True, True)
    assert time.monotonic() - started < timeout  # no inner block waited for the outer one's lock
    assert held(lock) == (False, False)
    assert list(Namespace.objects.values_list("name", flat=True)) == ["a"]


def test_autocommit_statements_take_nothing(lock):
    holder = os.open(lock.path, os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(holder, fcntl.LOCK_EX)  # "another process" is writing
    try:
        seen = []
        with connection.execute_wrapper(lambda execute, *args: seen.append(held(lock)[0]) or execute(*args)):
            Namespace.objects.create(name="a")
            Namespace.objects.filter(name="a").update(name="b")
        assert seen == [False, False]
        assert Namespace.objects.get().name == "b"
    finally:
        os.close(holder)


def test_a_writer_waiting_past_the_timeout_fails_promptly(lock, timeout):
    release = threading.Event()

    def hold():
        with transaction.atomic():
            Namespace.objects.create(name="holder")
            release.wait(10)

    holder, _ = in_thread(hold)
    deadline = time.monotonic() + 5
    while not lock.threads.locked() and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    waiter, outcome = in_thread(write, "waiter")
    waiter.join(5)
    waited = time.monotonic() - started
    release.set()
    holder.join(5)
    assert isinstance(outcome.get("error"), OperationalError)
    assert timeout <= waited < timeout + 2
    write("after")  # the locks are free again
    assert sorted(Namespace.objects.values_list("name", flat=True)) == ["after", "holder"]


def test_a_writer_waiting_for_another_process_past_the_timeout_fails_promptly(lock, timeout):
    holder = os.open(lock.path, os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another process's writer, stuck
    try:
        for attempt in range(2):  # the second while the first one's wait may still be under way
            started = time.monotonic()
            with pytest.raises(OperationalError):
                write(f"late {attempt}")
            assert timeout <= time.monotonic() - started < timeout + 2
            assert not lock.threads.locked()
    finally:
        os.close(holder)  # the other process is gone
    write("after")  # gets the flock its wait left behind, or takes it anew
    assert held(lock) == (False, False)
    assert list(Namespace.objects.values_list("name", flat=True)) == ["after"]


def contend(writer, transactions, inside, overlaps):
    """`transactions` atomic writes with SQLite's busy wait off, each
    counting the writers inside at once (in this process)."""
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 0")
    for index in range(transactions):
        with transaction.atomic():
            with inside["lock"]:
                inside["count"] += 1
                overlaps.append(inside["count"] > 1)
            Namespace.objects.create(name=f"{writer}-{index}")
            time.sleep(0.001)
            with inside["lock"]:
                inside["count"] -= 1


def test_threads_transactions_never_overlap(lock):
    inside, overlaps = {"lock": threading.Lock(), "count": 0}, []
    threads = [in_thread(contend, f"t{t}", 20, inside, overlaps) for t in range(4)]
    for thread, outcome in threads:
        thread.join(30)
        assert "error" not in outcome, outcome
    assert len(overlaps) == 80 and not any(overlaps)
    assert Namespace.objects.count() == 80


def test_processes_transactions_never_overlap(lock):
    """Two forked processes of 3 threads each, SQLite's busy wait off: every
    transaction gets through, so none ever found another one's."""
    connections.close_all()  # every child opens its own connections
    results = FORK.Queue()

    def child(process):
        inside, overlaps = {"lock": threading.Lock(), "count": 0}, []
        threads = [in_thread(contend, f"p{process}t{t}", 15, inside, overlaps) for t in range(3)]
        errors = []
        for thread, outcome in threads:
            thread.join(30)
            errors.append(repr(outcome.get("error", "")))
        results.put((errors, any(overlaps)))

    children = [FORK.Process(target=child, args=(p,)) for p in range(2)]
    for process in children:
        process.start()
    outcomes = [results.get(timeout=60) for _ in children]
    for process in children:
        process.join(10)
    assert outcomes == [(["''"] * 3, False)] * 2
    assert Namespace.objects.count() == 90


def queue_up(lock, names, taken):
    """A thread per name waiting for `lock` (a HandOverLock that is held), in
    the order of `names`: each starts once the one before is queued. Each
    records its name when it gets the lock, then lets it go."""

    def wait(name):
        assert lock.acquire(5)
        taken.append(name)
        lock.release()

    threads = []
    for name in names:
        thread = threading.Thread(target=wait, args=(name,), daemon=True)
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + 5
        while len(lock.waiters) < len(threads) and time.monotonic() < deadline:
            time.sleep(0.001)
        assert len(lock.waiters) == len(threads)
    return threads


def test_the_process_lock_goes_to_its_writers_in_the_order_they_came():
    lock, taken = HandOverLock(), []
    assert lock.acquire(1)
    threads = queue_up(lock, [f"w{i}" for i in range(6)], taken)
    lock.release()
    for thread in threads:
        thread.join(5)
    assert taken == [f"w{i}" for i in range(6)]
    assert not lock.locked() and not lock.waiters


def test_a_writer_coming_as_the_lock_is_let_go_does_not_pass_those_waiting():
    # threading.Lock would let this thread, which holds the GIL, take it
    # before the woken waiter runs: under load some writers wait many turns.
    lock, taken = HandOverLock(), []
    assert lock.acquire(1)
    [waiter] = queue_up(lock, ["waiting"], taken)
    lock.release()
    assert not lock.acquire(0)  # the waiter's now, though it may not have run yet
    waiter.join(5)
    assert taken == ["waiting"]
    assert lock.acquire(0)  # free again
    lock.release()


def test_a_writer_that_gives_up_leaves_its_place_to_the_next():
    lock, taken = HandOverLock(), []
    assert lock.acquire(1)
    [first] = queue_up(lock, ["first"], taken)
    started = time.monotonic()
    assert not lock.acquire(0.05)  # queued behind "first", then gave up
    assert time.monotonic() - started >= 0.05
    assert len(lock.waiters) == 1
    lock.release()
    first.join(5)
    assert taken == ["first"] and not lock.locked()


def test_a_writer_interrupted_while_waiting_leaves_the_queue():
    """Ctrl-C in `manage.py shell` while it waits: the wait ends with the
    exception, and the lock is not later handed to a thread that left."""

    class Interrupted(Exception):
        pass

    def interrupt(signum, frame):
        raise Interrupted

    lock = HandOverLock()
    assert lock.acquire(1)
    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    try:
        with pytest.raises(Interrupted):
            lock.acquire(5)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not lock.waiters
    lock.release()
    assert not lock.locked()
    assert lock.acquire(0)
