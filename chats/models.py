import hashlib
import json
import uuid

from django.db import models

from convoproject.messaging.models import (
    MessageBase,
    ReportBase,
    ReportedMessageBase,
    moderation_indexes,
    ordered_message_constraints,
    parent_index,
    report_constraints_and_indexes,
    reported_message_indexes,
)
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
    # The newest sent_at of its messages, kept by the Appender, which locks
    # the row by updating it (convoproject.messaging.ordering); any other
    # save must leave it out (update_fields).
    last_sent_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "members_key"], name="chats_chat_one_per_user_set")]

    def __str__(self):
        return ", ".join(self.user_ids)


class Message(MessageBase):
    PARENT = "chat"

    # Its index is parent_index()'s, (parent, sent_at), not Django's (parent).
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="messages", db_index=False)

    class Meta(MessageBase.Meta):
        constraints = ordered_message_constraints("chat")
        indexes = [*moderation_indexes(), parent_index("chat")]


# DO_NOTHING, not CASCADE, on these two: so that messages stay fast-deletable
# (one DELETE for a clean-up of millions, which a cascade Django runs itself
# would turn into a SELECT of every message and a DELETE per hundred). The
# deleting functions remove reports first (convoproject.moderation.reports.
# delete_reports_of); the foreign key, checked at commit, catches any that would not.
class Report(ReportBase):
    PARENT = "chat"

    message = models.ForeignKey(Message, on_delete=models.DO_NOTHING, related_name="reports")
    # The message's chat (ReportBase.PARENT), indexed by the (chat,
    # created_at) index. DO_NOTHING as the message's: the Chat's deletion
    # removes its reports first, as it does its messages' (delete_reports_of).
    chat = models.ForeignKey(Chat, on_delete=models.DO_NOTHING, related_name="+", db_index=False)

    class Meta:
        constraints, indexes = report_constraints_and_indexes("chat")


class ReportedMessage(ReportedMessageBase):
    message = models.OneToOneField(Message, on_delete=models.DO_NOTHING, primary_key=True, related_name="review")

    class Meta:
        indexes = reported_message_indexes()
