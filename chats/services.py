"""Writes of Chats data; each takes the caller's namespace first."""

from django.db import transaction

from convoproject.messaging import append_message, locked_parent
from convoproject.rpc.errors import NotAMember

from .errors import ChatNotFound
from .models import Chat, Message, members_key_of


def create_chat(namespace, user_ids):
    """The chat of exactly this set of users, created if there is none yet.
    Racing requests meet at the unique (namespace, members_key) constraint:
    get_or_create's insert fails for all but one, and they read its row."""
    members = sorted(set(user_ids))
    chat, _ = Chat.objects.get_or_create(
        namespace=namespace,
        members_key=members_key_of(members),
        defaults={"user_ids": members},
    )
    return chat


def create_message(namespace, chat_id, *, author_id, text):
    with transaction.atomic():
        chat = locked_parent(Chat, namespace, chat_id)
        if chat is None:
            raise ChatNotFound()
        if author_id not in chat.user_ids:
            raise NotAMember()
        return append_message(Message, chat, author_id=author_id, text=text)
