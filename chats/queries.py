"""Reads of Chats data; each takes the caller's namespace first."""

from convoproject.messaging import newest_messages

from .errors import ChatNotFound
from .models import Chat, Message


def list_messages(namespace, chat_id, *, sent_before=None, limit=25):
    """The newest `limit` visible messages sent strictly before `sent_before`, newest first."""
    if chat_id is None or not Chat.objects.filter(namespace=namespace, id=chat_id).exists():
        raise ChatNotFound()
    return list(newest_messages(Message, namespace, chat_id, sent_before=sent_before, limit=limit))
