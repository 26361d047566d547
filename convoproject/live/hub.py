"""The hub: one per server process, on its event loop. It knows which
conversations and chats this process's streams show ("topics"), learns
that one changed (PostgreSQL: LISTEN; SQLite: a poll of the log, and at once
for commits of this process), reads the new events of the changed topics
from the log once, and hands them to every stream of the topic.

Streams never touch the database while they wait: the hub's reads and the
streams' opening work run on a few database threads of its own
(LIVE_DB_THREADS), which hold the only connections, plus the listener's.
A notification only says which topic to read; the log is the truth. A lost
or merged notification therefore loses nothing, and after the listener
reconnects every topic is read again from where it was."""

import asyncio
import collections
import contextlib
import functools
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, connections

from . import log as event_log
from . import retention
from .models import NOTIFY_CHANNEL

logger = logging.getLogger("convoproject.live")

_threads = settings.LIVE_DB_THREADS
_executor = ThreadPoolExecutor(max_workers=_threads, thread_name_prefix="live-db")
_hub = None


def _in_thread(function, *args):
    try:
        return function(*args)
    except DatabaseError:
        connection.close()  # a broken connection is not used again
        raise


async def in_db_thread(function, *args):
    """Run sync database work on one of the hub's database threads."""
    return await asyncio.get_running_loop().run_in_executor(_executor, functools.partial(_in_thread, function, *args))


def close_db_threads() -> None:
    """Close the database connections of the hub's threads (e.g. before a
    test database is dropped): one task per thread, held at a barrier so
    that each thread runs one."""
    threads = _threads
    barrier = threading.Barrier(threads)

    def close():
        connection.close()
        barrier.wait(timeout=10)

    for future in [_executor.submit(close) for _ in range(threads)]:
        future.result(timeout=15)


class Topic:
    """One conversation or chat that streams of this process show."""

    __slots__ = ("head", "ready", "subscriptions")

    def __init__(self):
        self.head = None  # the newest event id read for it; None until known
        self.subscriptions = set()
        self.ready = asyncio.Event()


class Subscription:
    """What the hub hands one stream: rows pushed in id order per topic."""

    def __init__(self, caller):
        self.caller = caller
        self.stream_ids = set()
        self.pending = collections.deque()
        self.woken = asyncio.Event()
        self.stopped = False

    def push(self, row):
        self.pending.append(row)
        self.woken.set()

    def stop(self):
        self.stopped = True
        self.woken.set()


class TooManyStreams(Exception):
    pass


class Hub:
    def __init__(self, loop):
        self.loop = loop
        self.topics: dict[uuid.UUID, Topic] = {}
        self.subscriptions: set[Subscription] = set()
        self.open_by_caller = collections.Counter()
        self.dirty: set[uuid.UUID] = set()
        self.dirty_event = asyncio.Event()
        self.poked = asyncio.Event()
        self.stopping = False
        self.listener_connected = asyncio.Event()
        listen = self._listen_postgresql if connection.vendor == "postgresql" else self._poll_log
        self.tasks = [
            loop.create_task(self._drain()),
            loop.create_task(listen()),
            loop.create_task(self._purge()),
            loop.create_task(self._end_revoked()),
        ]

    # ------------------------------------------------------------ streams

    async def subscribe(self, caller, stream_ids: list[uuid.UUID]) -> tuple[Subscription, dict[uuid.UUID, int]]:
        """A subscription to these topics, and each topic's head (the newest
        event id read for it), from which a new stream starts. TooManyStreams
        past the per-caller limit."""
        if self.open_by_caller[caller] >= settings.LIVE_MAX_STREAMS_PER_CALLER:
            raise TooManyStreams()
        subscription = Subscription(caller)
        self.subscriptions.add(subscription)
        self.open_by_caller[caller] += 1
        try:
            new = [stream_id for stream_id in stream_ids if stream_id not in self.topics]
            topics = {}
            for stream_id in stream_ids:
                topic = topics[stream_id] = self.topics.setdefault(stream_id, Topic())
                topic.subscriptions.add(subscription)
                subscription.stream_ids.add(stream_id)
            if new:
                await self._start_topics(new)
            for topic in topics.values():
                await topic.ready.wait()
                if topic.head is None:
                    raise DatabaseError("the event log could not be read")
        except BaseException:
            self.unsubscribe(subscription)
            raise
        return subscription, {stream_id: topic.head for stream_id, topic in topics.items()}

    async def _start_topics(self, stream_ids):
        try:
            newest = await in_db_thread(event_log.newest_ids, stream_ids)
        except BaseException:
            for stream_id in stream_ids:  # its waiters fail; the next subscriber tries again
                topic = self.topics.pop(stream_id, None)
                if topic is not None:
                    topic.ready.set()
            raise
        for stream_id in stream_ids:
            topic = self.topics.get(stream_id)
            if topic is not None and topic.head is None:
                topic.head = newest[stream_id]
                topic.ready.set()
        # A notification that came while the head was unknown was dropped.
        self.mark_dirty(stream_ids)

    def leave(self, subscription: Subscription, stream_id: uuid.UUID) -> None:
        """The subscription shows this topic no more (it was deleted)."""
        subscription.stream_ids.discard(stream_id)
        topic = self.topics.get(stream_id)
        if topic is not None:
            topic.subscriptions.discard(subscription)
            if not topic.subscriptions:
                del self.topics[stream_id]

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription not in self.subscriptions:
            return
        self.subscriptions.discard(subscription)
        for stream_id in list(subscription.stream_ids):
            self.leave(subscription, stream_id)
        self.open_by_caller[subscription.caller] -= 1
        if self.open_by_caller[subscription.caller] <= 0:
            del self.open_by_caller[subscription.caller]

    def stop_streams(self) -> None:
        """End every open stream (the server is shutting down); new ones are refused."""
        self.stopping = True
        for subscription in list(self.subscriptions):
            subscription.stop()

    # ------------------------------------------------------------ reading the log

    def mark_dirty(self, stream_ids) -> None:
        self.dirty.update(stream_id for stream_id in stream_ids if stream_id in self.topics)
        if self.dirty:
            self.dirty_event.set()

    async def _drain(self):
        """Read the new events of changed topics and hand them out, forever."""
        while True:
            await self.dirty_event.wait()
            self.dirty_event.clear()
            heads = {}
            for stream_id in self.dirty:
                topic = self.topics.get(stream_id)
                if topic is not None and topic.head is not None:
                    heads[stream_id] = topic.head
            self.dirty.clear()
            if not heads:
                continue
            try:
                rows = await in_db_thread(event_log.events_after, heads)
            except Exception:
                logger.exception("live: reading the event log failed; trying again")
                self.dirty.update(heads)
                await asyncio.sleep(1)
                self.dirty_event.set()
                continue
            for row in rows:
                topic = self.topics.get(row.stream_id)
                if topic is None or topic.head is None or row.id <= topic.head:
                    continue
                topic.head = row.id
                for subscription in topic.subscriptions:
                    subscription.push(row)

    async def _listen_postgresql(self):
        """LISTEN on a connection of its own, checked every few seconds: a
        database that stops answering is noticed and the connection replaced,
        and then every topic is read again (what was committed meanwhile)."""
        check = settings.LIVE_LISTENER_CHECK_SECONDS
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(**listener_params(), autocommit=True) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.listener_connected.set()
                    self.mark_dirty(list(self.topics))
                    delay = 0.5
                    while True:
                        async for notification in conn.notifies(timeout=check):
                            self._notified(notification.payload)
                        async with asyncio.timeout(check):  # not wait_for: see views._stream
                            await conn.execute("SELECT 1")
            except asyncio.CancelledError:
                raise
            except (OSError, psycopg.Error, TimeoutError) as error:
                self.listener_connected.clear()
                logger.warning("live: listener connection lost (%s); reconnecting in %.1f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)

    async def _end_revoked(self):
        """Every API_KEY_CACHE_SECONDS (at most 5: CONTRACT 6), end the streams
        of API keys revoked since they opened; their clients' next attempt is
        a 401."""
        while True:
            await asyncio.sleep(settings.API_KEY_CACHE_SECONDS or 1)
            keys = [caller[1] for caller in self.open_by_caller if caller[0] == "key"]
            if not keys:
                continue
            try:
                revoked = await in_db_thread(event_log.revoked_keys, keys)
            except Exception:
                logger.exception("live: checking for revoked API keys failed")
                continue
            for subscription in list(self.subscriptions):
                if subscription.caller[0] == "key" and subscription.caller[1] in revoked:
                    subscription.stop()

    async def _purge(self):
        """Every LIVE_PURGE_SECONDS, drop what is too old to resume from."""
        while True:
            await asyncio.sleep(settings.LIVE_PURGE_SECONDS)
            try:
                deleted = await in_db_thread(retention.purge_expired)
                if deleted:
                    logger.info("live: purged %d expired events", deleted)
            except Exception:
                logger.exception("live: purging expired events failed")

    def _notified(self, payload):
        try:
            stream_id = uuid.UUID(payload)
        except ValueError:
            return
        if stream_id in self.topics:
            self.dirty.add(stream_id)
            self.dirty_event.set()

    async def _poll_log(self):
        """SQLite: look at the end of the log every LIVE_POLL_SECONDS, and at
        once when this process commits an event (poke())."""
        newest = None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.poked.wait(), timeout=settings.LIVE_POLL_SECONDS)
            self.poked.clear()
            try:
                if newest is None:
                    newest = await in_db_thread(event_log.newest_id)
                    self.listener_connected.set()
                    self.mark_dirty(list(self.topics))
                    continue
                if not self.topics:
                    newest, _ = await in_db_thread(event_log.changes_since, newest)
                    continue
                newest, changed = await in_db_thread(event_log.changes_since, newest)
                self.mark_dirty(changed)
            except Exception:
                logger.exception("live: polling the event log failed")
                newest = None
                await asyncio.sleep(1)


def listener_params() -> dict:
    """libpq parameters of the listener: the database's own, with TCP
    keepalives so that a silent network is noticed too."""
    params = connections["default"].get_connection_params()
    kept = {
        key: value
        for key, value in params.items()
        if isinstance(value, str | int) and not isinstance(value, bool) and key not in ("prepare_threshold",)
    }
    for key, value in {
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": 30_000,
        "application_name": "convo-live-listener",
    }.items():
        kept.setdefault(key, value)
    return kept


def get() -> Hub:
    """This process's hub, started on the running event loop."""
    global _hub
    loop = asyncio.get_running_loop()
    if _hub is None or _hub.loop is not loop:
        _hub = Hub(loop)
    return _hub


def poke() -> None:
    """Wake this process's hub (any thread): an event was committed here."""
    hub = _hub
    if hub is not None and not hub.loop.is_closed():
        hub.loop.call_soon_threadsafe(hub.poked.set)


def stop_streams() -> None:
    """End every open stream of this process (on its event loop's thread):
    the server is shutting down, and clients resume on another."""
    if _hub is not None:
        _hub.stop_streams()
