"""Reads of Chats data: the shell API, which the RPCs call too. Each takes
the caller's namespace first, the rest by keyword, and answers rows (named
tuples) with the fields the API returns."""

import datetime
import uuid

from convoproject.tenants.models import Namespace

from . import statements
from .errors import ChatNotFound


def list_messages(
    namespace: Namespace,
    *,
    chat_id: uuid.UUID | None,
    sent_before: datetime.datetime | None = None,
    limit: int = 25,
    render=None,
) -> list:
    """The newest `limit` visible messages sent strictly before `sent_before`,
    newest first (id, author_id, chat_id, text, sent_at), or ChatNotFound.
    `render` (the RPC's serializers.render_message_rows) answers them in their
    wire form instead, rendered from the database's values."""
    page = statements.pages.page(namespace.pk, chat_id, sent_before=sent_before, limit=limit, render=render)
    if page is None:
        raise ChatNotFound()
    return page
