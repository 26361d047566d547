import hashlib
import json
import uuid

from django.db import models

from convoproject.messaging.models import MessageBase, moderation_indexes, ordered_message_constraints
from convoproject.tenants.models import Namespace


def members_key_of(user_ids):
    """The canonical form of a set of users: SHA-256 of its sorted JSON list.
    A unique constraint on it makes "one chat per user set" hold under races."""
    canonical = json.dumps(sorted(set(user_ids)), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Chat(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="chats", db_index=False)
    user_ids = models.JSONField(help_text="The members, sorted by code point.")
    members_key = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "members_key"], name="chats_chat_one_per_user_set")]

    def __str__(self):
        return ", ".join(self.user_ids)


class Message(MessageBase):
    PARENT = "chat"

    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="messages")

    class Meta(MessageBase.Meta):
        constraints = ordered_message_constraints("chat")
        indexes = moderation_indexes()
