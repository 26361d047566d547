"""GET /events (CONTRACT 9): the errors before the stream as envelopes, then
Server-Sent Events until the client goes, the server stops or the stream's
lifetime ends (the client resumes where it was)."""

import asyncio
import random
import time

from django.conf import settings
from django.db import DatabaseError
from django.http import StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from convoproject.rpc.errors import MethodNotAllowed, RpcError, ServiceUnavailable, TooManyRequests, envelope

from . import channels, hub
from . import log as event_log
from .cursor import Cursor
from .opening import Opening, open_request

RESET = b"event: reset\ndata: {}\n\n"


def _error(error: RpcError):
    response = envelope(error)
    if error.code == 405:
        response["Allow"] = "GET"
    return response


@csrf_exempt
async def events(request):
    if request.method != "GET":
        return _error(MethodNotAllowed("Only GET is allowed"))
    try:
        opening = await hub.in_db_thread(open_request, request)
    except RpcError as error:
        return _error(error)
    except DatabaseError:
        return _error(ServiceUnavailable())
    the_hub = hub.get()
    if the_hub.stopping:
        return _error(ServiceUnavailable("The server is restarting: connect again"))
    try:
        subscription, heads = await the_hub.subscribe(opening.caller, opening.stream_ids)
    except hub.TooManyStreams:
        return _error(TooManyRequests(retry_after=settings.LIVE_KEEPALIVE_SECONDS))
    except DatabaseError:
        return _error(ServiceUnavailable())
    request.convo_namespace = opening.namespace.name  # for the request log
    response = StreamingHttpResponse(
        _stream(the_hub, subscription, opening, heads), content_type="text/event-stream; charset=utf-8"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


def _frame(cursor: Cursor, row) -> bytes:
    return f"id: {cursor.encode()}\nevent: {row.type}\ndata: {row.data}\n\n".encode()


async def _stream(the_hub, subscription, opening: Opening, heads: dict):
    """The body: retry and a comment at once, `reset` if due, what the resume
    point missed, then live events, each with the resume point after it."""
    deleted_types = {channel.deleted_type for channel in channels.all_channels()}
    cursor = Cursor(opening.namespace.pk, {**heads, **opening.resumed})
    lifetime = settings.LIVE_MAX_STREAM_SECONDS * random.uniform(0.9, 1.0)  # spread the reconnects
    ends_at = time.monotonic() + lifetime

    def frames(rows) -> bytes:
        out = []
        for row in rows:
            if row.stream_id not in subscription.stream_ids or row.id <= cursor.positions[row.stream_id]:
                continue  # sent already (the resume point's read and the hub's overlap)
            cursor.positions[row.stream_id] = row.id
            out.append(_frame(cursor, row))
            if row.type in deleted_types:  # nothing follows for it
                the_hub.leave(subscription, row.stream_id)
        return b"".join(out)

    try:
        yield f"retry: {settings.LIVE_RETRY_MS}\n: stream open\n\n".encode()
        if opening.reset:
            yield f"id: {cursor.encode()}\n".encode() + RESET
        if opening.resumed:
            caught_up = await hub.in_db_thread(event_log.events_after, opening.resumed)
            chunk = frames(caught_up)
            if chunk:
                yield chunk
        keepalive = settings.LIVE_KEEPALIVE_SECONDS
        while not subscription.stopped:
            if subscription.pending:
                rows = list(subscription.pending)
                subscription.pending.clear()
                chunk = frames(rows)
                if chunk:
                    yield chunk
                continue
            left = ends_at - time.monotonic()
            if left <= 0:
                return
            subscription.woken.clear()
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can
                # swallow a cancellation (the client went) that comes as the
                # wait ends, and the stream would outlive its client.
                async with asyncio.timeout(min(keepalive, left)):
                    await subscription.woken.wait()
            except TimeoutError:
                yield b": keepalive\n\n"
    finally:
        the_hub.unsubscribe(subscription)
