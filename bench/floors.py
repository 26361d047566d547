"""Floors: for each hot RPC, the least a Django view can do to give the same answer.

A floor is a plain Django function view (no DRF, no request serializer, no
ORM): it parses the JSON body, runs the same statements as the RPC in steady
state (the API key cached, the row found, the page not empty), through the
same Statement objects (streams/statements.py, chats/statements.py: a floor
imports a statement, it never copies one), renders the rows with the same
functions, and returns their JSON. `manage.py bench` serves them under the
same gunicorn, middleware and database as the RPCs, at
/bench-floor/{Service}/{Method} (bench/urls.py, mounted only by
bench.settings), and reports RPC throughput / floor throughput: what the
protocol layer (DRF's request cycle, validation, authentication) costs.

tests/test_bench.py runs each RPC and its floor on the same data and fails if
they run different statements or, for reads, answer differently.

UpdateConversation and DeleteConversation have no floor: they are not hot and
run through the ORM (streams/services.py), so there is no statement to share.

Floors only need to answer the bench's well-formed requests: no field
validation (that is the RPC's work, and part of what the ratio measures), and
a missing row is a bare 404.
"""

import contextlib
import datetime
import json
import uuid

from django.db import IntegrityError, connection, transaction
from django.http import HttpResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from chats import statements as chats
from chats.models import members_key_of
from chats.serializers import render_chat
from chats.serializers import render_message as render_chat_message
from chats.serializers import render_message_rows as render_chat_message_rows
from convoproject.rpc.renderers import dumps
from convoproject.tenants.keys import find_active_key
from streams import statements as streams
from streams.serializers import render_conversation, render_message, render_message_rows

URL_PREFIX = "bench-floor/"
FLOORS = {}  # "Streams/ListMessages" -> view


class NotFound(Exception):
    pass


def floor(rpc):
    def register(work):
        @csrf_exempt
        def view(request):
            scheme, _, key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
            api_key = find_active_key(key.strip()) if scheme.lower() == "bearer" and key else None
            if api_key is None:
                return HttpResponse(b'{"code":401}', status=401, content_type="application/json")
            try:
                answer = work(api_key.namespace_id, json.loads(request.body or b"{}"))
            except NotFound:
                return HttpResponse(b'{"code":404}', status=404, content_type="application/json")
            return HttpResponse(dumps(answer), content_type="application/json")  # the RPCs' own JSON writer

        view.work = work
        FLOORS[rpc] = view
        return view

    return register


def uuid_in(body, key):
    """The UUID in body[key]; NotFound (as the RPC answers) if there is none."""
    try:
        return uuid.UUID(body.get(key))
    except (TypeError, ValueError, AttributeError):
        raise NotFound from None


@floor("Streams/CreateConversation")
def create_conversation(namespace_id, body):
    conversation = streams.insert_conversation.save(
        id=uuid.uuid4(),
        namespace_id=namespace_id,
        group_id=body["group_id"],
        topic=body["topic"],
        created_at=timezone.now(),
        last_sent_at=None,
    )
    return {"conversation": render_conversation(conversation)}


@floor("Streams/ReadConversation")
def read_conversation(namespace_id, body):
    row = streams.conversation.one(namespace_id, uuid_in(body, "id"))
    if row is None or (body.get("group_id") is not None and row.group_id != body["group_id"]):
        raise NotFound
    return {"conversation": render_conversation(row)}


@floor("Streams/ListConversations")
def list_conversations(namespace_id, body):
    return {
        "conversations": [
            render_conversation(r) for r in streams.conversations_of_group.rows(namespace_id, body["group_id"])
        ]
    }


def create_message(appender, render, namespace_id, parent_id, body, members_only=False):
    def check(parent):
        if body["author_id"] not in parent.user_ids:
            raise NotFound  # NOT_A_MEMBER in the RPC; the bench never sends it

    author_id, text = body["author_id"], body["text"]
    message = appender.create(
        namespace_id, parent_id, author_id=author_id, text=text, check=check if members_only else None
    )
    if message is None:
        raise NotFound
    return {"message": render(message)}


@floor("Streams/CreateMessage")
def create_stream_message(namespace_id, body):
    return create_message(streams.messages, render_message, namespace_id, uuid_in(body, "conversation_id"), body)


@floor("Chats/CreateMessage")
def create_chat_message(namespace_id, body):
    parent_id = uuid_in(body, "chat_id")
    return create_message(chats.messages, render_chat_message, namespace_id, parent_id, body, members_only=True)


def list_messages(pages, render, namespace_id, parent_id, body):
    before = body.get("sent_before")
    sent_before = datetime.datetime.fromisoformat(before) if before else None
    limit = int(body.get("limit") or 25)
    page = pages.page(namespace_id, parent_id, sent_before=sent_before, limit=limit, render=render)
    if page is None:
        raise NotFound
    return {"messages": page}


@floor("Streams/ListMessages")
def list_stream_messages(namespace_id, body):
    return list_messages(streams.pages, render_message_rows, namespace_id, uuid_in(body, "conversation_id"), body)


@floor("Chats/ListMessages")
def list_chat_messages(namespace_id, body):
    return list_messages(chats.pages, render_chat_message_rows, namespace_id, uuid_in(body, "chat_id"), body)


@floor("Streams/RecentMessages")
def recent_messages(namespace_id, body):
    ids = []
    for text in dict.fromkeys(body["conversation_ids"]):
        with contextlib.suppress(ValueError):  # not an id: it matches nothing
            ids.append(uuid.UUID(text))
    limit = int(body.get("limit_per_conversation") or 25)
    return {"messages": streams.pages.first_of_each(namespace_id, ids, limit=limit, render=render_message_rows)}


@floor("Chats/CreateChat")
def create_chat(namespace_id, body):
    members = sorted(set(body["user_ids"]))
    key = members_key_of(members)
    row = chats.chat_of_members.one(namespace_id, key)
    if row is None:
        row = chats.chat_of_members.row(uuid.uuid4(), members, timezone.now())
        try:
            with transaction.atomic():
                chats.insert_chat.save(
                    id=row.id,
                    namespace_id=namespace_id,
                    user_ids=members,
                    members_key=key,
                    created_at=row.created_at,
                    last_sent_at=None,
                )
        except IntegrityError:  # a racing request made it first
            row = chats.chat_of_members.one(namespace_id, key)
    return {"chat": render_chat(row)}


@csrf_exempt
def noop(request):
    """No SQL at all: what the stack (gunicorn, middleware, the client) costs by itself."""
    return HttpResponse(b"{}", content_type="application/json")


@csrf_exempt
def trip(request):
    """The noop plus one `SELECT 1` through Django's cursor: what any view that
    asks the database anything pays before its own statement (on PostgreSQL,
    a round trip and a backend's wake-up; on SQLite, a call into the library)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return HttpResponse(b"{}", content_type="application/json")


urlpatterns = [
    path(URL_PREFIX + "noop", noop),
    path(URL_PREFIX + "trip", trip),
    *(path(URL_PREFIX + rpc, view) for rpc, view in FLOORS.items()),
]
