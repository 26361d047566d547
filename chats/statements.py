"""The SQL the Chats RPCs run, each statement once (convoproject.sql). The
views reach it through queries.py and services.py; the benchmark's floors
(bench/floors.py) run the same objects."""

from convoproject.live import publish
from convoproject.messaging.ordering import Appender
from convoproject.messaging.pages import Pages
from convoproject.sql import Insert, Statement, columns_of, fields_of

from .models import Chat, Message

CHATS = Chat._meta.db_table
CHAT_COLUMNS = columns_of(Chat, "id", "user_ids", "created_at")

# Through the unique (namespace, members_key) index.
chat_of_members = Statement(
    f"SELECT id, user_ids, created_at FROM {CHATS} WHERE namespace_id = %s AND members_key = %s",
    params=fields_of(Chat, "namespace", "members_key"),
    columns=CHAT_COLUMNS,
)

insert_chat = Insert(Chat)

# A chat message's writer also needs the chat's users (NOT_A_MEMBER): the
# service checks them, PostgreSQL's one-statement append claims only a chat
# with the author among them (jsonb containment of the one-element array).
messages = Appender(
    Message,
    Chat,
    lock_columns=("id", "namespace", "user_ids"),
    announce=publish.message_created,
    author_allowed="user_ids @> jsonb_build_array(%s::text)",
)
pages = Pages(Message, Chat)
