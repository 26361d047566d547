"""Reads of Streams data; each takes the caller's namespace first."""

from django.db import connection

from convoproject.messaging import message_row, page_of, prepared_page
from convoproject.prepared import PreparedRead

from .errors import ConversationNotFound
from .models import Conversation, Message

CONVERSATION_COLUMNS = ["id", "group_id", "topic", "created_at"]
_field = Conversation._meta.get_field

_one_conversation = PreparedRead(
    lambda shape, *, namespace_id, conversation_id: Conversation.objects.filter(
        namespace=namespace_id, id=conversation_id
    ).values_list(*CONVERSATION_COLUMNS),
    CONVERSATION_COLUMNS,
    namespace_id=("int", _field("namespace")),
    conversation_id=("uuid", _field("id")),
)

_group = PreparedRead(
    lambda shape, *, namespace_id, group_id: (
        Conversation.objects.filter(namespace=namespace_id, group_id=group_id)
        .order_by("-created_at")
        .values_list(*CONVERSATION_COLUMNS)
    ),
    CONVERSATION_COLUMNS,
    namespace_id=("int", _field("namespace")),
    group_id=("str", _field("group_id")),
)


def get_conversation(namespace, conversation_id, *, group_id=None):
    """The conversation (a row of CONVERSATION_COLUMNS), or ConversationNotFound
    (also when group_id differs)."""
    if conversation_id is None:
        raise ConversationNotFound()
    rows = _one_conversation.run(None, namespace_id=namespace.pk, conversation_id=conversation_id)
    if not rows or (group_id is not None and rows[0].group_id != group_id):
        raise ConversationNotFound()
    return rows[0]


def list_conversations(namespace, group_id):
    """The group's conversations (rows of CONVERSATION_COLUMNS), newest first."""
    return _group.run(None, namespace_id=namespace.pk, group_id=group_id)


def list_messages(namespace, conversation_id, *, sent_before=None, limit=25):
    """The newest `limit` visible messages sent strictly before `sent_before`, newest first."""
    page = page_of(Message, Conversation, namespace, conversation_id, sent_before=sent_before, limit=limit)
    if page is None:
        raise ConversationNotFound()
    return page


def recent_messages(namespace, conversation_ids, *, limit_per_conversation=25):
    """For each conversation in the order given, its newest visible messages,
    newest first. One SQL statement for any number of conversations, each
    read by one LIMITed scan of the (namespace, conversation, sent_at) index
    (a window function would read every message of every conversation):
    on PostgreSQL a LATERAL join over the ids, elsewhere a UNION ALL of one
    page per conversation, compiled once and repeated."""
    if not conversation_ids:
        return []
    if connection.vendor == "postgresql":
        # Rows as ListMessages gives them; psycopg already answers UUIDs and aware datetimes.
        row = message_row(Message)
        with connection.cursor() as cursor:
            cursor.execute(_RECENT_LATERAL, [conversation_ids, namespace.pk, limit_per_conversation])
            return [row._make(values) for values in cursor.fetchall()]
    return prepared_page(Message).run_each(
        (limit_per_conversation, False),
        "parent_id",
        conversation_ids,
        order_by="sent_at DESC",
        namespace_id=namespace.pk,
        sent_before=None,
    )


_RECENT_LATERAL = f"""
SELECT page.id, page.author_id, page.conversation_id, page.text, page.sent_at
FROM unnest(%s::uuid[]) WITH ORDINALITY AS wanted (id, position)
CROSS JOIN LATERAL (
    SELECT m.id, m.author_id, m.conversation_id, m.text, m.sent_at
    FROM {Message._meta.db_table} m
    WHERE m.namespace_id = %s AND m.conversation_id = wanted.id AND NOT m.hidden
    ORDER BY m.sent_at DESC
    LIMIT %s
) page
ORDER BY wanted.position, page.sent_at DESC
"""
