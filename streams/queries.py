"""Reads of Streams data: the shell API, which the RPCs call too. Each takes
the caller's namespace first, the rest by keyword, and answers rows (named
tuples) with the fields the API returns."""

import datetime
import uuid

from convoproject.tenants.models import Namespace

from . import statements
from .errors import ConversationNotFound


def get_conversation(namespace: Namespace, *, conversation_id: uuid.UUID | None, group_id: str | None = None):
    """The conversation (id, group_id, topic, created_at), or
    ConversationNotFound (also when `group_id` is given and differs)."""
    row = None if conversation_id is None else statements.conversation.one(namespace.pk, conversation_id)
    if row is None or (group_id is not None and row.group_id != group_id):
        raise ConversationNotFound()
    return row


def list_conversations(namespace: Namespace, *, group_id: str) -> list:
    """The group's conversations (id, group_id, topic, created_at), newest first."""
    return statements.conversations_of_group.rows(namespace.pk, group_id)


def list_messages(
    namespace: Namespace,
    *,
    conversation_id: uuid.UUID | None,
    sent_before: datetime.datetime | None = None,
    limit: int = 25,
    render=None,
) -> list:
    """The newest `limit` visible messages sent strictly before `sent_before`,
    newest first (id, author_id, conversation_id, text, sent_at), or
    ConversationNotFound. `render` (the RPC's serializers.render_message_rows)
    answers them in their wire form instead, rendered from the database's values."""
    page = statements.pages.page(namespace.pk, conversation_id, sent_before=sent_before, limit=limit, render=render)
    if page is None:
        raise ConversationNotFound()
    return page


def recent_messages(
    namespace: Namespace, *, conversation_ids: list[uuid.UUID], limit_per_conversation: int = 25, render=None
) -> list:
    """For each conversation in the order given, its newest visible messages,
    newest first, in one statement; unknown ids contribute nothing. `render`:
    as for list_messages."""
    return statements.pages.first_of_each(namespace.pk, conversation_ids, limit=limit_per_conversation, render=render)
