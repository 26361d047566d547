"""Reads of Chats data; each takes the caller's namespace first."""

from convoproject.messaging import page_of

from .errors import ChatNotFound
from .models import Chat, Message


def list_messages(namespace, chat_id, *, sent_before=None, limit=25):
    """The newest `limit` visible messages sent strictly before `sent_before`, newest first."""
    page = page_of(Message, Chat, namespace, chat_id, sent_before=sent_before, limit=limit)
    if page is None:
        raise ChatNotFound()
    return page
