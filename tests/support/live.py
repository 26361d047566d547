"""GET /events in the test's own event loop (Django's AsyncClient), parsed
into events: for the live tests that need no server process.

    async with live_session() as live:
        stream = await live.open(key, conversation_ids=[...])
        event = await stream.next()        # Event(id, type, data)
        await stream.close()

`live_session()` runs every database call of the test on the hub's
database threads (`await live.db(function, ...)`): the ORM cannot run on the
event loop, and the hub's threads are the ones whose connections it closes
at the end."""

import asyncio
import contextlib
import json
import urllib.parse
from dataclasses import dataclass

from django.test import AsyncClient

from convoproject.live import hub


@dataclass
class Event:
    id: str | None
    type: str
    data: object


class Stream:
    """The body is read by a task of its own, which close() cancels: what an
    ASGI server does when the client goes (the view's generator sees the
    cancellation where it waits)."""

    def __init__(self, response):
        self.response = response
        self.status = response.status_code
        self.chunks = asyncio.Queue()
        self.reader = asyncio.create_task(self._read()) if response.streaming else None
        self.buffer = b""
        self.comments = []
        self.retry = None

    async def _read(self):
        try:
            async for chunk in self.response.streaming_content:
                self.chunks.put_nowait(chunk)
        finally:
            self.chunks.put_nowait(None)

    async def _frame(self):
        while b"\n\n" not in self.buffer:
            chunk = await self.chunks.get()
            if chunk is None:
                self.chunks.put_nowait(None)
                raise EOFError("the stream ended")
            self.buffer += chunk
        frame, self.buffer = self.buffer.split(b"\n\n", 1)
        return frame.decode()

    async def next(self, timeout=5.0) -> Event:
        """The next event within `timeout` seconds (comments and retry lines
        are recorded, not returned), or TimeoutError."""
        async with asyncio.timeout(timeout):
            return await self._next()

    async def _next(self) -> Event:
        while True:
            fields = {}
            for line in (await self._frame()).split("\n"):
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    continue
                name, _, value = line.partition(": ")
                fields[name] = value
            if "retry" in fields:
                self.retry = int(fields["retry"])
            if "event" in fields:
                return Event(fields.get("id"), fields["event"], json.loads(fields["data"]))

    async def take(self, count, timeout=5.0) -> list[Event]:
        return [await self.next(timeout) for _ in range(count)]

    async def quiet(self, seconds=0.5) -> list[Event]:
        """The events that come within `seconds` (for "nothing more")."""
        got = []
        with contextlib.suppress(TimeoutError, EOFError):
            async with asyncio.timeout(seconds):
                while True:
                    got.append(await self._next())
        return got

    async def ended(self, timeout=5.0) -> bool:
        """True once the server ends the stream within `timeout` (events
        before it are skipped); TimeoutError if it does not."""
        with contextlib.suppress(EOFError):
            async with asyncio.timeout(timeout):
                while True:
                    await self._next()
        return True

    def json(self):
        return json.loads(self.response.content)

    async def close(self):
        if self.reader is not None and not self.reader.done():
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader
        await asyncio.sleep(0)  # the view's finally runs


class LiveSession:
    def __init__(self, cookies=None):
        self.client = AsyncClient()
        if cookies is not None:
            self.client.cookies = cookies
        self.streams = []

    async def db(self, function, *args, **kwargs):
        return await hub.in_db_thread(lambda: function(*args, **kwargs))

    async def open(
        self,
        key=None,
        *,
        conversation_ids=(),
        chat_ids=(),
        last_event_id=None,
        query_last_event_id=None,
        namespace=None,
        headers=None,
        method="get",
    ) -> Stream:
        params = [("conversation_id", str(c)) for c in conversation_ids] + [("chat_id", str(c)) for c in chat_ids]
        if query_last_event_id is not None:
            params.append(("last_event_id", query_last_event_id))
        if namespace is not None:
            params.append(("namespace", namespace))
        sent = dict(headers or {})
        if key:
            sent["Authorization"] = f"Bearer {key}"
        if last_event_id is not None:
            sent["Last-Event-ID"] = last_event_id
        query = urllib.parse.urlencode(params)
        response = await getattr(self.client, method)(f"/events?{query}", headers=sent)
        stream = Stream(response)
        self.streams.append(stream)
        return stream


@contextlib.asynccontextmanager
async def live_session(cookies=None):
    """`cookies`: a logged-in test client's, for a browser session."""
    session = LiveSession(cookies)
    try:
        yield session
    finally:
        for stream in session.streams:
            await stream.close()
        hub.stop_streams()


def run(body):
    """Run an async test body on a fresh event loop (a hub of its own), then
    close the hub's database connections."""
    try:
        asyncio.run(body())
    finally:
        hub.close_db_threads()
