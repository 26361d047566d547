"""Writes of Streams data: the shell API, which the RPCs call too. Each takes
the caller's namespace first, the rest by keyword, runs in one transaction
and answers model instances."""

import uuid

from django.db import transaction
from django.utils import timezone

from convoproject.live import publish
from convoproject.messaging.reports import MessageNotFound
from convoproject.moderation import reports
from convoproject.moderation.services import delete_reports_of
from convoproject.tenants.models import Namespace

from . import statements
from .errors import ConversationNotFound
from .models import Conversation, Message, Report
from .serializers import render_conversation


def create_conversation(namespace: Namespace, *, group_id: str, topic: str) -> Conversation:
    return statements.insert_conversation.save(
        id=uuid.uuid4(),
        namespace_id=namespace.pk,
        group_id=group_id,
        topic=topic,
        created_at=timezone.now(),
        last_sent_at=None,
    )


def _locked_conversation(namespace: Namespace, conversation_id: uuid.UUID | None) -> Conversation | None:
    if conversation_id is None:
        return None
    return Conversation.objects.select_for_update().filter(namespace=namespace, id=conversation_id).first()


def update_conversation(namespace: Namespace, *, conversation_id: uuid.UUID | None, topic: str) -> Conversation:
    with transaction.atomic():
        conversation = _locked_conversation(namespace, conversation_id)
        if conversation is None:
            raise ConversationNotFound()
        conversation.topic = topic
        conversation.save(update_fields=["topic"])
        publish.publish(
            namespace.pk,
            conversation.id,
            publish.Type.CONVERSATION_UPDATED,
            {"conversation": render_conversation(conversation)},
        )
    return conversation


def delete_conversation(namespace: Namespace, *, conversation_id: uuid.UUID | None) -> None:
    """Delete a conversation and all its messages in one transaction. A missing
    conversation is not an error: the result is the same."""
    with transaction.atomic():
        # Locked first, so that a message being added meanwhile is either
        # committed before (and deleted with the rest) or finds no conversation.
        conversation = _locked_conversation(namespace, conversation_id)
        if conversation is not None:
            publish.parent_deleted(conversation)
            delete_reports_of(conversation.messages.all())
            conversation.delete()


def create_message(namespace: Namespace, *, conversation_id: uuid.UUID | None, author_id: str, text: str) -> Message:
    """A message at the end of the conversation (CONTRACT 3's ordering), or ConversationNotFound."""
    message = statements.messages.create(namespace.pk, conversation_id, author_id=author_id, text=text)
    if message is None:
        raise ConversationNotFound()
    return message


def report_message(
    namespace: Namespace, *, message_id: uuid.UUID | None, reporter_id: str, reason: str, description: str | None = None
) -> Report:
    """A user's report of one of the namespace's messages, hidden or not
    (CONTRACT 10): the reporter's open report on it if there is one, else a
    new one (convoproject.moderation.reports), or MessageNotFound."""
    with transaction.atomic():
        message = reports.locked_message(Message, namespace=namespace, message_id=message_id)
        if message is None:
            raise MessageNotFound()
        return reports.file_report(message, reporter_id=reporter_id, reason=reason, description=description or "")
