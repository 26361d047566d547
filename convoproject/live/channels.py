"""What the live layer needs to know of each kind of stream (a Streams
conversation, a Chats chat): its models, the key its messages name it by in
`message_removed`, its deletion event and the wire form of its messages
(a function of a message, and the RowsRenderer of its rows, whose SQL
writes a new message's event on PostgreSQL).
Each app registers its channel when it is ready (streams/apps.py,
chats/apps.py), so that this package and moderation need not import them."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import models


@dataclass(frozen=True)
class Channel:
    message_model: type[models.Model]
    parent_model: type[models.Model]
    parent_key: str  # the messages' column naming the parent: "conversation_id", "chat_id"
    query_parameter: str  # GET /events?conversation_id=...: "conversation_id", "chat_id"
    deleted_type: str  # "conversation_deleted", "chat_deleted"
    render_message: Callable[[models.Model], dict]
    message_rows: Any  # convoproject.rpc.render.RowsRenderer of the same serializer


_by_model: dict[type[models.Model], Channel] = {}


def register(channel: Channel) -> None:
    _by_model[channel.message_model] = _by_model[channel.parent_model] = channel


def of(model: type[models.Model]) -> Channel:
    """The channel of a message or parent model (or of a queryset's model)."""
    return _by_model[model]


def all_channels() -> list[Channel]:
    return list(dict.fromkeys(_by_model.values()))
