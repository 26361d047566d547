"""Floors: for each RPC, the least a Django view can do to give the same answer.

A floor is a plain Django function view (no DRF, no serializers, no ORM): it
parses the JSON body, runs through `connection.cursor()` the same SQL
statements that the RPC runs in steady state (the API key cached, the row
found, the page not empty), with the request's parameters, and returns
`json.dumps` of the rows in the RPC's response shape. `manage.py bench`
serves them under the same gunicorn, middleware and database as the RPCs, at
/bench-floor/{Service}/{Method}, and reports RPC throughput / floor
throughput. They are mounted only when CONVO_BENCH_FLOORS=1 (settings.
BENCH_FLOORS), which only the bench's own gunicorn sets.

The SQL of every floor is in `SQL` below, one dict per RPC, copied from what
the RPC runs (Django's own SQL, placeholders and all). tests/test_bench.py
runs each RPC and its floor on the same data and fails if the statements
differ (after normalising whitespace and quoting), if the parameters differ,
or if a read's answer differs: change the RPC's queries, and that test tells
you which statement to copy here.

Templates: `%s` is a parameter; `{limit}` the page size (Django writes LIMIT
as a literal); `{for_update}` is " FOR UPDATE" where the database has it
(SQLite has none: Django leaves it out there).

Floors only need to answer the bench's well-formed requests: no field
validation (that is the RPC's work, and part of what the ratio measures), and
a missing row is a bare 404.
"""

import datetime
import hashlib
import json
import uuid

from django.db import IntegrityError, connection, transaction
from django.http import HttpResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

UTC = datetime.UTC
ONE_MICROSECOND = datetime.timedelta(microseconds=1)
URL_PREFIX = "bench-floor/"

_CONVERSATION = """
    SELECT "streams_conversation"."id", "streams_conversation"."namespace_id", "streams_conversation"."group_id",
           "streams_conversation"."topic", "streams_conversation"."created_at"
    FROM "streams_conversation"
"""
# The reads select just the wire form's columns (a values_list: Django names each).
_CONVERSATION_VALUES = """
    SELECT "streams_conversation"."id" AS "id", "streams_conversation"."group_id" AS "group_id",
           "streams_conversation"."topic" AS "topic", "streams_conversation"."created_at" AS "created_at"
    FROM "streams_conversation"
"""
_STREAMS_PAGE = """
    SELECT "streams_message"."id" AS "id", "streams_message"."author_id" AS "author_id",
           "streams_message"."conversation_id" AS "conversation_id", "streams_message"."text" AS "text",
           "streams_message"."sent_at" AS "sent_at"
    FROM "streams_message"
"""
_CHATS_PAGE = """
    SELECT "chats_message"."id" AS "id", "chats_message"."author_id" AS "author_id",
           "chats_message"."chat_id" AS "chat_id", "chats_message"."text" AS "text",
           "chats_message"."sent_at" AS "sent_at"
    FROM "chats_message"
"""
# What CreateMessage locks: just the columns it needs.
_LOCK_CONVERSATION_ROW = """
    SELECT "streams_conversation"."id" AS "id", "streams_conversation"."namespace_id" AS "namespace_id"
    FROM "streams_conversation"
    WHERE ("streams_conversation"."id" = %s AND "streams_conversation"."namespace_id" = %s){for_update}"""
_LOCK_CHAT_ROW = """
    SELECT "chats_chat"."id" AS "id", "chats_chat"."namespace_id" AS "namespace_id",
           "chats_chat"."user_ids" AS "user_ids"
    FROM "chats_chat"
    WHERE ("chats_chat"."id" = %s AND "chats_chat"."namespace_id" = %s){for_update}"""
_LOCK_CONVERSATION = (
    _CONVERSATION
    + """WHERE ("streams_conversation"."id" = %s AND "streams_conversation"."namespace_id" = %s)
    ORDER BY "streams_conversation"."id" ASC LIMIT 1{for_update}"""
)

# ---------------------------------------------------------------- the SQL of each RPC, in the order it runs
SQL = {
    "Streams/CreateConversation": {
        "insert": """
            INSERT INTO "streams_conversation" ("id", "namespace_id", "group_id", "topic", "created_at")
            VALUES (%s, %s, %s, %s, %s)""",
    },
    "Streams/ReadConversation": {
        "conversation": _CONVERSATION_VALUES
        + """WHERE ("streams_conversation"."id" = %s AND "streams_conversation"."namespace_id" = %s)""",
    },
    "Streams/UpdateConversation": {
        "lock": _LOCK_CONVERSATION,
        "update": """UPDATE "streams_conversation" SET "topic" = %s WHERE "streams_conversation"."id" = %s""",
    },
    "Streams/DeleteConversation": {
        "lock": _LOCK_CONVERSATION,
        "delete_messages": """DELETE FROM "streams_message" WHERE "streams_message"."conversation_id" IN (%s)""",
        "delete": """DELETE FROM "streams_conversation" WHERE "streams_conversation"."id" IN (%s)""",
    },
    "Streams/ListConversations": {
        "conversations": _CONVERSATION_VALUES
        + """WHERE ("streams_conversation"."group_id" = %s AND "streams_conversation"."namespace_id" = %s)
            ORDER BY 4 DESC""",
    },
    "Streams/CreateMessage": {
        "lock": _LOCK_CONVERSATION_ROW,
        # The end of the (namespace, conversation, sent_at) index.
        "newest": """
            SELECT "streams_message"."sent_at" AS "sent_at" FROM "streams_message"
            WHERE ("streams_message"."conversation_id" = %s AND "streams_message"."namespace_id" = %s)
            ORDER BY 1 DESC LIMIT 1""",
        "insert": """
            INSERT INTO "streams_message" ("id", "namespace_id", "author_id", "text", "sent_at", "hidden",
                                           "hidden_at", "hidden_by_id", "hidden_reason", "conversation_id")
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
    },
    "Streams/ListMessages": {
        "page": _STREAMS_PAGE
        + """WHERE ("streams_message"."conversation_id" = %s AND NOT "streams_message"."hidden"
                   AND "streams_message"."namespace_id" = %s)
            ORDER BY 5 DESC LIMIT {limit}""",
        "page_before": _STREAMS_PAGE
        + """WHERE ("streams_message"."conversation_id" = %s AND NOT "streams_message"."hidden"
                   AND "streams_message"."namespace_id" = %s AND "streams_message"."sent_at" < %s)
            ORDER BY 5 DESC LIMIT {limit}""",
        # Only when the page is empty: is there such a conversation at all?
        "exists": """
            SELECT %s AS "a" FROM "streams_conversation"
            WHERE ("streams_conversation"."id" = %s AND "streams_conversation"."namespace_id" = %s) LIMIT 1""",
    },
    "Streams/RecentMessages": {
        # One part per conversation, joined with UNION ALL, then the order.
        "part": "SELECT {position} AS position, part.* FROM ("
        + _STREAMS_PAGE
        + """WHERE ("streams_message"."conversation_id" = %s AND NOT "streams_message"."hidden"
                   AND "streams_message"."namespace_id" = %s)
            ORDER BY 5 DESC LIMIT {limit}) part""",
        "union": " UNION ALL ",
        "order": " ORDER BY position, sent_at DESC",
        # PostgreSQL: one LATERAL join over the ids instead.
        "lateral": """
            SELECT page.id, page.author_id, page.conversation_id, page.text, page.sent_at
            FROM unnest(%s::uuid[]) WITH ORDINALITY AS wanted (id, position)
            CROSS JOIN LATERAL (
                SELECT m.id, m.author_id, m.conversation_id, m.text, m.sent_at
                FROM streams_message m
                WHERE m.namespace_id = %s AND m.conversation_id = wanted.id AND NOT m.hidden
                ORDER BY m.sent_at DESC
                LIMIT %s
            ) page
            ORDER BY wanted.position, page.sent_at DESC""",
    },
    "Chats/CreateChat": {
        # A find, then (only for a new set of users) an INSERT in its own transaction.
        "find": """
            SELECT "chats_chat"."id" AS "id", "chats_chat"."user_ids" AS "user_ids",
                   "chats_chat"."created_at" AS "created_at"
            FROM "chats_chat"
            WHERE ("chats_chat"."members_key" = %s AND "chats_chat"."namespace_id" = %s)""",
        "insert": """
            INSERT INTO "chats_chat" ("id", "namespace_id", "user_ids", "members_key", "created_at")
            VALUES (%s, %s, %s, %s, %s)""",
    },
    "Chats/CreateMessage": {
        "lock": _LOCK_CHAT_ROW,
        "newest": """
            SELECT "chats_message"."sent_at" AS "sent_at" FROM "chats_message"
            WHERE ("chats_message"."chat_id" = %s AND "chats_message"."namespace_id" = %s)
            ORDER BY 1 DESC LIMIT 1""",
        "insert": """
            INSERT INTO "chats_message" ("id", "namespace_id", "author_id", "text", "sent_at", "hidden",
                                         "hidden_at", "hidden_by_id", "hidden_reason", "chat_id")
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
    },
    "Chats/ListMessages": {
        "page": _CHATS_PAGE
        + """WHERE ("chats_message"."chat_id" = %s AND NOT "chats_message"."hidden"
                   AND "chats_message"."namespace_id" = %s)
            ORDER BY 5 DESC LIMIT {limit}""",
        "page_before": _CHATS_PAGE
        + """WHERE ("chats_message"."chat_id" = %s AND NOT "chats_message"."hidden"
                   AND "chats_message"."namespace_id" = %s AND "chats_message"."sent_at" < %s)
            ORDER BY 5 DESC LIMIT {limit}""",
        "exists": """
            SELECT %s AS "a" FROM "chats_chat"
            WHERE ("chats_chat"."id" = %s AND "chats_chat"."namespace_id" = %s) LIMIT 1""",
    },
}

# The API key: looked up once per process, as the RPCs' cache does in steady state.
KEY_SQL = 'SELECT "namespace_id" FROM "tenants_apikey" WHERE "digest" = %s AND "revoked_at" IS NULL'

# ---------------------------------------------------------------- values in and out


def sql(rpc, name, **parts):
    """The statement, its {for_update} filled in for this database (and any other part given)."""
    for_update = " FOR UPDATE" if connection.features.has_select_for_update else ""
    return SQL[rpc][name].format(for_update=for_update, **parts)


def db_uuid(value):
    """A UUID as Django stores it: native on PostgreSQL, 32 hex digits on SQLite."""
    return value if connection.features.has_native_uuid_field else value.hex


def db_time(value):
    return connection.ops.adapt_datetimefield_value(value)


def out_uuid(value):
    return str(value) if isinstance(value, uuid.UUID) else str(uuid.UUID(value))


def in_time(value):
    """A datetime from the database (SQLite may give text), as aware UTC."""
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def out_time(value):
    return in_time(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_uuid(text):
    try:
        return uuid.UUID(text)
    except (TypeError, ValueError, AttributeError):
        return None


def required_id(body, key="id"):
    """The UUID in body[key]; NotFound (as the RPC answers) if there is none."""
    found = parse_uuid(body.get(key))
    if found is None:
        raise NotFound
    return found


def conversation_out(row):
    return {"id": out_uuid(row[0]), "group_id": row[2], "topic": row[3], "created_at": out_time(row[4])}


def conversation_values_out(row):
    """A row of _CONVERSATION_VALUES."""
    return {"id": out_uuid(row[0]), "group_id": row[1], "topic": row[2], "created_at": out_time(row[3])}


def page_out(row, parent_key):
    """A row of a page: id, author_id, parent id, text, sent_at."""
    return {
        "id": out_uuid(row[0]),
        "author_id": row[1],
        parent_key: out_uuid(row[2]),
        "text": row[3],
        "sent_at": out_time(row[4]),
    }


def user_ids_of(value):
    return json.loads(value) if isinstance(value, str) else value


def chat_out(row):
    """A row of id, user_ids, created_at."""
    return {"id": out_uuid(row[0]), "user_ids": user_ids_of(row[1]), "created_at": out_time(row[2])}


def fetchone(statement, params):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone()


def fetchall(statement, params):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


def execute(statement, params):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


class NotFound(Exception):
    pass


# ---------------------------------------------------------------- the floors

FLOORS = {}  # "Streams/ListMessages" -> view


def floor(rpc):
    def register(work):
        @csrf_exempt
        def view(request):
            namespace_id = namespace_of(request)
            if namespace_id is None:
                return HttpResponse(b'{"code":401}', status=401, content_type="application/json")
            body = json.loads(request.body or b"{}")
            try:
                answer = work(namespace_id, body)
            except NotFound:
                return HttpResponse(b'{"code":404}', status=404, content_type="application/json")
            content = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
            return HttpResponse(content.encode(), content_type="application/json")

        view.work = work
        FLOORS[rpc] = view
        return view

    return register


_namespaces = {}  # key digest -> namespace id: the RPCs cache keys in steady state too


def namespace_of(request):
    scheme, _, key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        return None
    digest = hashlib.sha256(key.strip().encode()).hexdigest()
    namespace_id = _namespaces.get(digest)
    if namespace_id is None:
        row = fetchone(KEY_SQL, [digest])
        if row is None:
            return None
        namespace_id = _namespaces[digest] = row[0]
    return namespace_id


@floor("Streams/CreateConversation")
def create_conversation(namespace_id, body):
    row = (uuid.uuid4(), namespace_id, body["group_id"], body["topic"], timezone.now())
    execute(sql("Streams/CreateConversation", "insert"), [db_uuid(row[0]), *row[1:4], db_time(row[4])])
    return {"conversation": conversation_out(row)}


@floor("Streams/ReadConversation")
def read_conversation(namespace_id, body):
    conversation_id = required_id(body)
    row = fetchone(sql("Streams/ReadConversation", "conversation"), [db_uuid(conversation_id), namespace_id])
    group_id = body.get("group_id")
    if row is None or (group_id is not None and row[1] != group_id):
        raise NotFound
    return {"conversation": conversation_values_out(row)}


@floor("Streams/UpdateConversation")
def update_conversation(namespace_id, body):
    conversation_id = required_id(body)
    with transaction.atomic():
        row = fetchone(sql("Streams/UpdateConversation", "lock"), [db_uuid(conversation_id), namespace_id])
        if row is None:
            raise NotFound
        execute(sql("Streams/UpdateConversation", "update"), [body["topic"], db_uuid(conversation_id)])
    return {"conversation": conversation_out((row[0], row[1], row[2], body["topic"], row[4]))}


@floor("Streams/DeleteConversation")
def delete_conversation(namespace_id, body):
    conversation_id = parse_uuid(body.get("id"))
    if conversation_id is None:
        return {}
    with transaction.atomic():
        row = fetchone(sql("Streams/DeleteConversation", "lock"), [db_uuid(conversation_id), namespace_id])
        if row is not None:
            execute(sql("Streams/DeleteConversation", "delete_messages"), [db_uuid(conversation_id)])
            execute(sql("Streams/DeleteConversation", "delete"), [db_uuid(conversation_id)])
    return {}


@floor("Streams/ListConversations")
def list_conversations(namespace_id, body):
    rows = fetchall(sql("Streams/ListConversations", "conversations"), [body["group_id"], namespace_id])
    return {"conversations": [conversation_values_out(row) for row in rows]}


def create_message(rpc, parent_key, namespace_id, body, members_only):
    parent_id = required_id(body, parent_key)
    author_id, text = body["author_id"], body["text"]
    with transaction.atomic():
        parent = fetchone(sql(rpc, "lock"), [db_uuid(parent_id), namespace_id])
        if parent is None:
            raise NotFound
        if members_only and author_id not in user_ids_of(parent[2]):
            raise NotFound  # NOT_A_MEMBER in the RPC; the bench never sends it
        newest = fetchone(sql(rpc, "newest"), [db_uuid(parent_id), namespace_id])
        now = timezone.now()
        sent_at = now if newest is None or now > (newest := in_time(newest[0])) else newest + ONE_MICROSECOND
        message_id = uuid.uuid4()
        params = [db_uuid(message_id), namespace_id, author_id, text, db_time(sent_at), False, None, None, ""]
        execute(sql(rpc, "insert"), [*params, db_uuid(parent_id)])
    return {"message": page_out((message_id, author_id, parent_id, text, sent_at), parent_key)}


@floor("Streams/CreateMessage")
def create_stream_message(namespace_id, body):
    return create_message("Streams/CreateMessage", "conversation_id", namespace_id, body, members_only=False)


def list_messages(rpc, parent_key, namespace_id, body):
    parent_id = required_id(body, parent_key)
    limit = int(body.get("limit") or 25)
    before = body.get("sent_before")
    params = [db_uuid(parent_id), namespace_id]
    if before:
        statement = sql(rpc, "page_before", limit=limit)
        params.append(db_time(datetime.datetime.fromisoformat(before)))
    else:
        statement = sql(rpc, "page", limit=limit)
    rows = fetchall(statement, params)
    if not rows and fetchone(sql(rpc, "exists"), [1, db_uuid(parent_id), namespace_id]) is None:
        raise NotFound
    return {"messages": [page_out(row, parent_key) for row in rows]}


@floor("Streams/ListMessages")
def list_stream_messages(namespace_id, body):
    return list_messages("Streams/ListMessages", "conversation_id", namespace_id, body)


@floor("Streams/RecentMessages")
def recent_messages(namespace_id, body):
    ids = [i for i in map(parse_uuid, dict.fromkeys(body["conversation_ids"])) if i is not None]
    if not ids:
        return {"messages": []}
    limit = int(body.get("limit_per_conversation") or 25)
    if connection.vendor == "postgresql":
        rows = fetchall(sql("Streams/RecentMessages", "lateral"), [ids, namespace_id, limit])
        return {"messages": [page_out(row, "conversation_id") for row in rows]}
    parts, params = [], []
    for position, conversation_id in enumerate(ids):
        parts.append(sql("Streams/RecentMessages", "part", position=position, limit=limit))
        params += [db_uuid(conversation_id), namespace_id]
    statement = SQL["Streams/RecentMessages"]["union"].join(parts) + SQL["Streams/RecentMessages"]["order"]
    # The first column is the position: the page's columns start at 1.
    return {"messages": [page_out(row[1:], "conversation_id") for row in fetchall(statement, params)]}


@floor("Chats/CreateChat")
def create_chat(namespace_id, body):
    members = sorted(set(body["user_ids"]))
    canonical = json.dumps(members, ensure_ascii=False, separators=(",", ":"))
    key = hashlib.sha256(canonical.encode()).hexdigest()
    find = sql("Chats/CreateChat", "find")
    row = fetchone(find, [key, namespace_id])
    if row is None:
        row = (uuid.uuid4(), members, timezone.now())
        params = [db_uuid(row[0]), namespace_id, connection.ops.adapt_json_value(members, None), key, db_time(row[2])]
        try:
            with transaction.atomic():
                execute(sql("Chats/CreateChat", "insert"), params)
        except IntegrityError:  # a racing request made it first
            row = fetchone(find, [key, namespace_id])
    return {"chat": chat_out(row)}


@floor("Chats/CreateMessage")
def create_chat_message(namespace_id, body):
    return create_message("Chats/CreateMessage", "chat_id", namespace_id, body, members_only=True)


@floor("Chats/ListMessages")
def list_chat_messages(namespace_id, body):
    return list_messages("Chats/ListMessages", "chat_id", namespace_id, body)


@csrf_exempt
def noop(request):
    """No SQL at all: what the stack (gunicorn, middleware, the client) costs by itself."""
    return HttpResponse(b"{}", content_type="application/json")


urlpatterns = [
    path(URL_PREFIX + "noop", noop),
    *(path(URL_PREFIX + rpc, view) for rpc, view in FLOORS.items()),
]
