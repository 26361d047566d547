"""The concurrency promises of CONTRACT 3 and 5, under real concurrency.

Several forked PROCESSES, each with several threads, every one with its own
database connection, all released at once by a multiprocessing Barrier:

- CreateMessage (Streams and Chats) on ONE conversation / chat: every call
  succeeds (no IntegrityError, no deadlock), sent_at is unique and strictly
  increasing in each writer's creation order, and paging with `sent_before`
  returns every message exactly once. Run once with the real clock and once
  with a frozen clock, which sends every message after the first through the
  "newest + 1 microsecond" path: only the parent row lock keeps two writers
  from reading the same newest sent_at; and once with clocks that disagree
  between the processes (app servers): a writer behind the newest message
  takes the same path.
- CreateChat with different permutations of the same user set: one Chat row,
  and every caller gets its id and created_at.

Children report their results and every error through a multiprocessing
Queue; the parent asserts. The data must be committed to be seen across
connections, hence `django_db(transaction=True)`.

The children open their own connections to the test database: on
PostgreSQL as usual, on SQLite to the test database file (settings.py).
"""

import datetime
import itertools
import multiprocessing
import random
import threading
import traceback
from unittest import mock

import pytest
from django.db import connection, connections
from django.utils import timezone

from chats import queries as chat_queries
from chats import services as chat_services
from chats.models import Chat
from chats.models import Message as ChatMessage
from convoproject.messaging import ordering
from convoproject.tenants.models import Namespace
from streams import queries as stream_queries
from streams import services as stream_services
from streams.models import Message as StreamMessage
from tests.support.factories import newest_messages

PROCESSES = 4
THREADS = 3
MESSAGES_PER_THREAD = 10
PAGE = 7
TIMEOUT = 60  # seconds for any one wait; far above the expected few seconds

FORK = multiprocessing.get_context("fork")

pytestmark = pytest.mark.django_db(transaction=True)


# --------------------------------------------------------------------- setup


@pytest.fixture
def shared_database(transactional_db):
    """The test database, reachable from forked children: PostgreSQL, or the
    SQLite test database, which settings.py makes a file for this reason."""
    assert connection.vendor == "postgresql" or not connection.is_in_memory_db()


@pytest.fixture
def namespace(shared_database):
    return Namespace.objects.create(name="micro")


# --------------------------------------------------------------------- harness


class Clock:
    """Stands in for django.utils.timezone inside convoproject.messaging.ordering:
    frozen at one instant, or the real clock moved back by `behind`."""

    def __init__(self, frozen=None, behind=None):
        self.frozen, self.behind = frozen, behind

    def now(self):
        return self.frozen or timezone.now() - self.behind


def run_concurrently(work, *, processes, threads, rounds=1, frozen_now=None, skew=None):
    """Run `work(writer, round)` in `threads` threads of each of `processes`
    forked processes, `rounds` times; all writers start each round together.
    The Appender's clock: frozen at `frozen_now`, or `skew` times the process's
    index behind the real one (app servers whose clocks disagree), or real.

    Returns ({writer: [result of each round, in order]}, [error strings]).
    A call that raises is recorded as an error and the writer goes on.
    """
    connections.close_all()  # every child must open its own connections
    barrier = FORK.Barrier(processes * threads)
    queue = FORK.Queue()

    def child(process_index):
        results, errors = {}, []

        def writer_main(writer):
            results[writer] = []
            try:
                for round_ in range(rounds):
                    barrier.wait(timeout=TIMEOUT)
                    try:
                        results[writer].append(work(writer, round_))
                    except Exception as error:
                        errors.append(f"{writer} round {round_}: {error!r}\n{traceback.format_exc()}")
            except Exception as error:  # a broken barrier: some other writer is stuck
                errors.append(f"{writer}: {error!r}")
            finally:
                connections.close_all()

        try:
            clock = Clock(frozen_now) if frozen_now else Clock(behind=skew * process_index) if skew else None
            patch = mock.patch.object(ordering, "timezone", clock) if clock else None
            if patch:
                patch.start()
            workers = [
                threading.Thread(target=writer_main, args=(f"p{process_index}t{t}",), daemon=True)
                for t in range(threads)
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(TIMEOUT * rounds)
                if worker.is_alive():
                    errors.append(f"{worker.name} did not finish")
        except Exception as error:
            errors.append(f"p{process_index}: {error!r}\n{traceback.format_exc()}")
        finally:
            connections.close_all()
            queue.put((results, errors))

    children = [FORK.Process(target=child, args=(i,), daemon=True) for i in range(processes)]
    for process in children:
        process.start()
    results, errors = {}, []
    try:
        for _ in children:  # read before join: a full pipe would block the child
            child_results, child_errors = queue.get(timeout=TIMEOUT * rounds + 10)
            results.update(child_results)
            errors.extend(child_errors)
    finally:
        for process in children:
            process.join(10)
            if process.is_alive():
                errors.append(f"process {process.pid} hung; terminated")
                process.terminate()
                process.join(5)
            elif process.exitcode != 0:
                errors.append(f"process {process.pid} exited with {process.exitcode}")
    return results, errors


def page_through(list_messages, namespace, parent_id):
    """Every message id, newest first, by ListMessages pages of PAGE."""
    ids, sent_ats, before = [], [], None
    while True:
        page = list_messages(namespace, parent_id, before)
        assert len(page) <= PAGE
        if not page:
            return ids, sent_ats
        ids += [str(m.id) for m in page]
        sent_ats += [m.sent_at for m in page]
        before = page[-1].sent_at


def check_ordering(results, errors, message_model, list_messages, namespace, parent_id):
    calls = PROCESSES * THREADS * MESSAGES_PER_THREAD
    assert errors == [], f"{len(errors)} of {calls} calls failed:\n" + "\n".join(errors)
    assert sorted(results) == sorted(f"p{p}t{t}" for p in range(PROCESSES) for t in range(THREADS))
    created = [message for writer in results.values() for message in writer]
    assert len(created) == calls

    # Each writer's messages: sent_at strictly increasing in creation order.
    for writer, messages in results.items():
        sent = [sent_at for _, sent_at in messages]
        assert all(a < b for a, b in itertools.pairwise(sent)), f"{writer}: not increasing: {sent}"

    # The rows: one per call, exactly as returned, sent_at unique.
    rows = dict(message_model.objects.filter(**{f"{message_model.PARENT}_id": parent_id}).values_list("id", "sent_at"))
    assert len(rows) == calls
    assert {str(id_): sent_at for id_, sent_at in rows.items()} == dict(created)
    assert len(set(rows.values())) == calls
    # The parent's row holds the newest (convoproject.messaging.ordering).
    parent_model = message_model._meta.get_field(message_model.PARENT).related_model
    assert parent_model.objects.get(pk=parent_id).last_sent_at == max(rows.values())

    # Paging with sent_before: every message exactly once, newest first.
    ids, sent_ats = page_through(list_messages, namespace, parent_id)
    assert len(ids) == calls
    assert set(ids) == {id_ for id_, _ in created}
    assert all(a > b for a, b in itertools.pairwise(sent_ats))
    # The ORM's reading of "the newest visible messages" agrees with it.
    newest = newest_messages(message_model, namespace, parent_id, limit=calls + 1)
    assert [str(m.id) for m in newest] == ids


def clocks(kind):
    """run_concurrently's clock arguments: the real clock; or a frozen time a
    few dozen microseconds before a whole second, so the +1 microsecond steps
    also cross a second boundary (SQLite stores a whole second without the
    fraction); or clocks that disagree by 20 ms from one process to the next,
    so that a writer's clock is often behind the newest message."""
    if kind == "frozen":
        return {"frozen_now": timezone.now().replace(microsecond=1_000_000 - 50)}
    if kind == "skewed":
        return {"skew": datetime.timedelta(milliseconds=20)}
    return {}


# --------------------------------------------------------------------- tests


def race_writers(create_message, clock):
    """Every writer posts MESSAGES_PER_THREAD messages with `create_message(writer, text)`
    at once; ({writer: [(id, sent_at), ...]}, errors)."""

    def work(writer, round_):
        results = []
        for i in range(MESSAGES_PER_THREAD):
            message = create_message(writer, f"{writer} {i}")
            results.append((str(message.id), message.sent_at))
        return results

    results, errors = run_concurrently(work, processes=PROCESSES, threads=THREADS, **clocks(clock))
    return {writer: rounds[0] if rounds else [] for writer, rounds in results.items()}, errors


@pytest.mark.parametrize("clock", ["real", "frozen", "skewed"])
def test_streams_create_message_orders_concurrent_writers(namespace, clock):
    conversation = stream_services.create_conversation(namespace, group_id="g", topic="race")
    results, errors = race_writers(
        lambda writer, text: stream_services.create_message(
            namespace, conversation_id=conversation.id, author_id=writer, text=text
        ),
        clock,
    )

    def list_messages(namespace, conversation_id, before):
        return stream_queries.list_messages(namespace, conversation_id=conversation_id, sent_before=before, limit=PAGE)

    check_ordering(results, errors, StreamMessage, list_messages, namespace, conversation.id)


@pytest.mark.parametrize("clock", ["real", "frozen", "skewed"])
def test_chats_create_message_orders_concurrent_writers(namespace, clock):
    writers = [f"p{p}t{t}" for p in range(PROCESSES) for t in range(THREADS)]
    chat = chat_services.create_chat(namespace, user_ids=writers)
    results, errors = race_writers(
        lambda writer, text: chat_services.create_message(namespace, chat_id=chat.id, author_id=writer, text=text),
        clock,
    )

    def list_messages(namespace, chat_id, before):
        return chat_queries.list_messages(namespace, chat_id=chat_id, sent_before=before, limit=PAGE)

    check_ordering(results, errors, ChatMessage, list_messages, namespace, chat.id)


def test_create_chat_races_meet_at_one_chat(namespace):
    """Each round, every racer asks for the same set of users, each in its own
    order (some with duplicates): one row, the same id and created_at for all."""
    processes, threads, rounds = 6, 2, 5
    user_sets = [[f"user-{r}-{k}" for k in range(5)] + ["ünïcode 🙂"] for r in range(rounds)]

    def work(writer, round_):
        user_ids = list(user_sets[round_])
        random.Random(f"{writer}/{round_}").shuffle(user_ids)
        if writer.endswith("t1"):
            user_ids += user_ids[:2]  # duplicates are merged
        chat = chat_services.create_chat(namespace, user_ids=user_ids)
        return str(chat.id), chat.created_at, chat.user_ids

    results, errors = run_concurrently(work, processes=processes, threads=threads, rounds=rounds)
    assert errors == [], f"{len(errors)} CreateChat calls failed:\n" + "\n".join(errors)
    assert len(results) == processes * threads
    assert all(len(answers) == rounds for answers in results.values())

    for round_, users in enumerate(user_sets):
        answers = {writer_answers[round_][:2] for writer_answers in results.values()}
        assert len(answers) == 1, f"round {round_}: racers got different chats: {answers}"
        (chat_id, created_at), expected_users = answers.pop(), sorted(users)
        chat = Chat.objects.get(id=chat_id)
        assert (chat.created_at, chat.user_ids) == (created_at, expected_users)
        assert all(writer_answers[round_][2] == expected_users for writer_answers in results.values())
    assert Chat.objects.filter(namespace=namespace).count() == rounds


def test_shared_database_is_the_test_database(namespace):
    """The children really see the parent's committed rows (and so the test
    database, not db.sqlite3 or the DATABASE_URL database itself)."""
    marker = Namespace.objects.create(name="marker")

    def work(writer, round_):
        return connection.settings_dict["NAME"], Namespace.objects.filter(id=marker.id).exists()

    results, errors = run_concurrently(work, processes=2, threads=1)
    assert errors == []
    assert {answers[0] for answers in results.values()} == {(connection.settings_dict["NAME"], True)}
