"""Writes of Chats data; each takes the caller's namespace first."""

from django.db import IntegrityError, transaction

from convoproject.messaging import append_message, locked_parent_row
from convoproject.prepared import PreparedRead
from convoproject.rpc.errors import NotAMember

from .errors import ChatNotFound
from .models import Chat, Message, members_key_of

CHAT_COLUMNS = ["id", "user_ids", "created_at"]

_chat_of_members = PreparedRead(
    lambda shape, *, namespace_id, members_key: Chat.objects.filter(
        namespace=namespace_id, members_key=members_key
    ).values_list(*CHAT_COLUMNS),
    CHAT_COLUMNS,
    namespace_id=("int", Chat._meta.get_field("namespace")),
    members_key=("str", Chat._meta.get_field("members_key")),
)


def create_chat(namespace, user_ids):
    """The chat (a row of CHAT_COLUMNS) of exactly this set of users, created
    if there is none yet. Racing requests meet at the unique (namespace,
    members_key) constraint: the insert fails for all but one, and they read
    its row."""
    members = sorted(set(user_ids))
    key = members_key_of(members)
    found = _chat_of_members.run(None, namespace_id=namespace.pk, members_key=key)
    if found:
        return found[0]
    try:
        with transaction.atomic():
            chat = Chat.objects.create(namespace=namespace, members_key=key, user_ids=members)
    except IntegrityError:
        return _chat_of_members.run(None, namespace_id=namespace.pk, members_key=key)[0]
    return _chat_of_members.row(chat.id, chat.user_ids, chat.created_at)


def create_message(namespace, chat_id, *, author_id, text):
    with transaction.atomic():
        chat = locked_parent_row(Chat, namespace, chat_id, columns=("id", "namespace_id", "user_ids"))
        if chat is None:
            raise ChatNotFound()
        if author_id not in chat.user_ids:
            raise NotAMember()
        return append_message(Message, chat, author_id=author_id, text=text)
