import uuid

from django.db import models

from convoproject.messaging.models import MessageBase, moderation_indexes, ordered_message_constraints
from convoproject.tenants.models import Namespace


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    namespace = models.ForeignKey(
        Namespace,
        on_delete=models.CASCADE,
        related_name="conversations",
        db_index=False,
    )
    group_id = models.CharField(max_length=255)
    topic = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # ListConversations: one group of one namespace, newest first.
            models.Index(
                fields=["namespace", "group_id", "-created_at"],
                name="streams_conv_group_idx",
            ),
        ]

    def __str__(self):
        return self.topic


class Message(MessageBase):
    PARENT = "conversation"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")

    class Meta(MessageBase.Meta):
        constraints = ordered_message_constraints("conversation")
        indexes = moderation_indexes()
