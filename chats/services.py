"""Writes of Chats data: the shell API, which the RPCs call too. Each takes
the caller's namespace first and the rest by keyword."""

import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from convoproject.messaging.reports import MessageNotFound
from convoproject.moderation import reports
from convoproject.tenants.models import Namespace

from . import statements
from .errors import ChatNotFound, NotAMember, ReporterNotAMember
from .models import Message, Report, members_key_of


def create_chat(namespace: Namespace, *, user_ids: list[str]):
    """The chat (a row: id, user_ids, created_at) of exactly this set of
    users, created if there is none yet. Racing requests meet at the unique
    (namespace, members_key) constraint: the insert fails for all but one,
    and they read its row."""
    members = sorted(set(user_ids))
    key = members_key_of(members)
    found = statements.chat_of_members.one(namespace.pk, key)
    if found is not None:
        return found
    chat = statements.chat_of_members.row(uuid.uuid4(), members, timezone.now())
    try:
        with transaction.atomic():
            statements.insert_chat.save(
                id=chat.id,
                namespace_id=namespace.pk,
                user_ids=members,
                members_key=key,
                created_at=chat.created_at,
                last_sent_at=None,
            )
    except IntegrityError:
        return statements.chat_of_members.one(namespace.pk, key)
    return chat


def create_message(namespace: Namespace, *, chat_id: uuid.UUID | None, author_id: str, text: str) -> Message:
    """A message at the end of the chat (CONTRACT 3's ordering), or
    ChatNotFound, or NotAMember if the author is not one of its users."""

    def check_member(chat):
        if author_id not in chat.user_ids:
            raise NotAMember()

    message = statements.messages.create(namespace.pk, chat_id, author_id=author_id, text=text, check=check_member)
    if message is None:
        raise ChatNotFound()
    return message


def report_message(
    namespace: Namespace, *, message_id: uuid.UUID | None, reporter_id: str, reason: str, description: str | None = None
) -> Report:
    """A chat member's report of a message of the chat, hidden or not
    (CONTRACT 10): the reporter's open report on it if there is one, else a
    new one (convoproject.moderation.reports); MessageNotFound, or
    ReporterNotAMember if the reporter is not one of the chat's users."""
    with transaction.atomic():
        message = reports.locked_message(Message, namespace=namespace, message_id=message_id)
        if message is None:
            raise MessageNotFound()
        if reporter_id not in message.chat.user_ids:
            raise ReporterNotAMember()
        return reports.file_report(message, reporter_id=reporter_id, reason=reason, description=description or "")
