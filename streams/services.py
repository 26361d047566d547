"""Writes of Streams data; each takes the caller's namespace first."""

from django.db import transaction

from convoproject.messaging import append_message, locked_parent, locked_parent_row

from .errors import ConversationNotFound
from .models import Conversation, Message


def create_conversation(namespace, *, group_id, topic):
    return Conversation.objects.create(namespace=namespace, group_id=group_id, topic=topic)


def update_conversation(namespace, conversation_id, *, topic):
    with transaction.atomic():
        conversation = locked_parent(Conversation, namespace, conversation_id)
        if conversation is None:
            raise ConversationNotFound()
        conversation.topic = topic
        conversation.save(update_fields=["topic"])
    return conversation


def delete_conversation(namespace, conversation_id):
    """Delete a conversation and all its messages in one transaction. A missing
    conversation is not an error: the result is the same."""
    with transaction.atomic():
        # Locked first, so that a message being added meanwhile is either
        # committed before (and deleted with the rest) or finds no conversation.
        conversation = locked_parent(Conversation, namespace, conversation_id)
        if conversation is not None:
            conversation.delete()


def create_message(namespace, conversation_id, *, author_id, text):
    with transaction.atomic():
        conversation = locked_parent_row(Conversation, namespace, conversation_id)
        if conversation is None:
            raise ConversationNotFound()
        return append_message(Message, conversation, author_id=author_id, text=text)
