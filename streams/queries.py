"""Reads of Streams data; each takes the caller's namespace first."""

from convoproject.messaging import newest_messages

from .errors import ConversationNotFound
from .models import Conversation, Message


def get_conversation(namespace, conversation_id, *, group_id=None):
    """The conversation, or ConversationNotFound (also when group_id differs)."""
    conversation = Conversation.objects.filter(namespace=namespace, id=conversation_id).first()
    if conversation is None or (group_id is not None and conversation.group_id != group_id):
        raise ConversationNotFound()
    return conversation


def list_conversations(namespace, group_id):
    return list(Conversation.objects.filter(namespace=namespace, group_id=group_id).order_by("-created_at"))


def list_messages(namespace, conversation_id, *, sent_before=None, limit=25):
    """The newest `limit` visible messages sent strictly before `sent_before`, newest first."""
    if conversation_id is None or not Conversation.objects.filter(namespace=namespace, id=conversation_id).exists():
        raise ConversationNotFound()
    return list(newest_messages(Message, namespace, conversation_id, sent_before=sent_before, limit=limit))


def recent_messages(namespace, conversation_ids, *, limit_per_conversation=25):
    """For each conversation in the order given, its newest visible messages,
    newest first. One SQL query for any number of conversations: a UNION ALL
    of one index-backed, LIMITed scan per conversation (a window function would
    read every message of every conversation instead)."""
    if not conversation_ids:
        return []
    parts, params = [], []
    for position, conversation_id in enumerate(conversation_ids):
        page = newest_messages(Message, namespace, conversation_id, limit=limit_per_conversation)
        sql, page_params = page.query.sql_with_params()
        parts.append(f"SELECT {position:d} AS position, page.* FROM ({sql}) page")
        params.extend(page_params)
    sql = " UNION ALL ".join(parts) + " ORDER BY position, sent_at DESC"
    return list(Message.objects.raw(sql, params))
