"""The SQL the Streams RPCs run, each statement once (convoproject.sql). The
views reach it through queries.py and services.py; the benchmark's floors
(bench/floors.py) run the same objects."""

from convoproject.live import publish
from convoproject.messaging.ordering import Appender
from convoproject.messaging.pages import Pages
from convoproject.sql import Insert, Statement, columns_of, fields_of

from .models import Conversation, Message

CONVERSATIONS = Conversation._meta.db_table
CONVERSATION_COLUMNS = columns_of(Conversation, "id", "group_id", "topic", "created_at")
_SELECT_CONVERSATION = f"SELECT {', '.join(name for name, _ in CONVERSATION_COLUMNS)} FROM {CONVERSATIONS}"

insert_conversation = Insert(Conversation)

conversation = Statement(
    f"{_SELECT_CONVERSATION} WHERE namespace_id = %s AND id = %s",
    params=fields_of(Conversation, "namespace", "id"),
    columns=CONVERSATION_COLUMNS,
)

# Read from the (namespace, group_id, -created_at) index, in its order.
conversations_of_group = Statement(
    f"{_SELECT_CONVERSATION} WHERE namespace_id = %s AND group_id = %s ORDER BY created_at DESC",
    params=fields_of(Conversation, "namespace", "group_id"),
    columns=CONVERSATION_COLUMNS,
)

messages = Appender(Message, Conversation, announce=publish.message_created)
pages = Pages(Message, Conversation)
