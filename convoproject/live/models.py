"""The event log: one row per change a stream delivers (CONTRACT 9).

A change and its event commit in one transaction, and the event is written
while its conversation's or chat's row is locked (the same lock the ordering
guarantee takes for a new message). So within one conversation or chat,
event ids increase in commit order, and the events a reader sees of it are
always a prefix of what will ever be committed: a resume point per
conversation or chat is one event id (convoproject.live.cursor).
On PostgreSQL an insert trigger NOTIFYs the channel `convo_live` with the
stream's id (migration 0001), which wakes the streams of every app server."""

from django.db import models
from django.utils import timezone

from convoproject.tenants.models import Namespace

NOTIFY_CHANNEL = "convo_live"


class Event(models.Model):
    class Type(models.TextChoices):
        MESSAGE = "message"
        MESSAGE_REMOVED = "message_removed"
        CONVERSATION_UPDATED = "conversation_updated"
        CONVERSATION_DELETED = "conversation_deleted"
        CHAT_DELETED = "chat_deleted"

    id = models.BigAutoField(primary_key=True)
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="+", db_index=False)
    # A conversation's or a chat's id: no foreign key, its events outlive it.
    stream_id = models.UUIDField()
    type = models.CharField(max_length=32, choices=Type.choices)
    # The `data:` line as sent: the wire shape as it was when the change was made.
    data = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["stream_id", "id"], name="live_event_stream_idx"),
            models.Index(fields=["created_at"], name="live_event_created_idx"),
        ]

    def __str__(self):
        return f"{self.type} {self.stream_id} #{self.id}"
