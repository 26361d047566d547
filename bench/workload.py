"""What `manage.py bench` sends: for each RPC, request bodies over the seeded
data, with an API key of the right namespace.

Reads go to the data `manage.py seed` made (namespaces `bench-N`): pages of
conversations and chats that have messages, conversations by id, the groups'
conversation lists. Writes go to a scratch namespace, `bench.writes`, emptied
and made again at the start of every run, so that runs do not change what the
reads read: new conversations and chats there, messages into its 100
conversations and 100 chats, updates of its conversations, and deletes of
conversations made for the purpose (one per delete request).

Each CreateChat request names a new set of users (the RPC's create path:
its lookup misses, then it inserts), and each DeleteConversation request a
different conversation (the RPC's delete path, not "already gone").
"""

import dataclasses
import itertools
import json
import random

from django.db import transaction
from django.db.models import Count

from chats.models import Chat, members_key_of
from chats.models import Message as ChatMessage
from convoproject.tenants.keys import new_key_for
from convoproject.tenants.models import ApiKey, Namespace
from streams.models import Conversation
from streams.models import Message as StreamMessage

from .management.commands.seed import NAMESPACE_PREFIX, TextMaker

WRITES_NAMESPACE = "bench.writes"
SCRATCH_PARENTS = 100
RECENT_IDS = 10  # RecentMessages in the RPC table: 10 conversations of a namespace,
RECENT_LIMIT = 5  # 5 messages each

READS = {
    "Streams/ListMessages": 0.8,
    "Chats/ListMessages": 0.8,
    "Streams/RecentMessages": 0.8,
    "Streams/ReadConversation": 0.8,
    "Streams/ListConversations": 0.8,
}
WRITES = {
    "Streams/CreateMessage": 0.7,
    "Streams/CreateConversation": 0.7,
    "Chats/CreateChat": 0.7,
    "Chats/CreateMessage": None,
    "Streams/UpdateConversation": None,
    "Streams/DeleteConversation": None,
}
TARGETS = {**READS, **WRITES}  # the least RPC/floor throughput ratio asked for, or None
RPCS = list(TARGETS)
DESCRIPTIONS = {
    "Streams/ListMessages": "newest 25 of a seeded conversation",
    "Chats/ListMessages": "newest 25 of a seeded chat",
    "Streams/RecentMessages": f"{RECENT_IDS} conversations, {RECENT_LIMIT} each",
    "Streams/ReadConversation": "a seeded conversation",
    "Streams/ListConversations": "a seeded group, all its conversations",
    "Streams/CreateMessage": "into one of 100 conversations",
    "Streams/CreateConversation": "in one of 20 groups",
    "Chats/CreateChat": "a new set of 3 users",
    "Chats/CreateMessage": "into one of 100 chats",
    "Streams/UpdateConversation": "a new topic",
    "Streams/DeleteConversation": "an empty conversation",
}


@dataclasses.dataclass
class Parent:
    key: str  # an API key of its namespace
    id: str
    user_ids: list = dataclasses.field(default_factory=list)


class Workload:
    """Built once per run (`prepare`), then asked for bodies phase by phase."""

    def __init__(self, seed=1):
        self.rng = random.Random(seed)
        self.texts = TextMaker(self.rng)
        self.key_ids = []
        self.keys = {}  # namespace id -> raw key
        self.phases = itertools.count()

    # ------------------------------------------------------------ setup

    def key_for(self, namespace):
        if namespace.pk not in self.keys:
            api_key, raw_key = new_key_for(namespace)
            self.key_ids.append(api_key.pk)
            self.keys[namespace.pk] = raw_key
        return self.keys[namespace.pk]

    def forget_keys(self):
        """Delete the API keys this run made."""
        ApiKey.objects.filter(pk__in=self.key_ids).delete()

    def prepare(self, deletes, *, sample=1000):
        """Find the read targets, make the scratch namespace afresh with
        `deletes` conversations to delete."""
        namespaces = {ns.pk: ns for ns in Namespace.objects.filter(name__startswith=NAMESPACE_PREFIX)}
        if not namespaces:
            raise LookupError(
                "No seeded data (namespaces bench-N): run manage.py seed --settings=bench.settings, "
                "or bench without --no-seed."
            )
        conversations = (
            StreamMessage.objects.filter(namespace__in=namespaces)
            .values_list("namespace_id", "conversation_id")
            .annotate(n=Count("id"))
            .order_by()
        )
        chats = (
            ChatMessage.objects.filter(namespace__in=namespaces)
            .values_list("namespace_id", "chat_id")
            .annotate(n=Count("id"))
            .order_by()
        )
        conversations, chats = list(conversations), list(chats)
        if not conversations or not chats:
            raise LookupError("The seeded data needs conversations and chats with messages.")
        rng = self.rng
        self.conversations = [
            Parent(self.key_for(namespaces[ns]), str(cid))
            for ns, cid, _ in rng.sample(conversations, min(sample, len(conversations)))
        ]
        by_namespace = {}
        for ns, cid, _ in conversations:
            by_namespace.setdefault(ns, []).append(str(cid))
        self.recent = [
            (self.key_for(namespaces[ns]), ids) for ns, ids in by_namespace.items() if len(ids) >= RECENT_IDS
        ] or [(self.key_for(namespaces[ns]), ids) for ns, ids in by_namespace.items()]
        self.chats = [
            Parent(self.key_for(namespaces[ns]), str(cid)) for ns, cid, _ in rng.sample(chats, min(sample, len(chats)))
        ]
        groups = list(
            Conversation.objects.filter(namespace__in=namespaces).values_list("namespace_id", "group_id").distinct()
        )
        self.groups = [(self.key_for(namespaces[ns]), group) for ns, group in groups]
        self.make_scratch(deletes)

    def make_scratch(self, deletes):
        Namespace.objects.filter(name=WRITES_NAMESPACE).delete()
        namespace = Namespace.objects.create(name=WRITES_NAMESPACE)
        key = self.key_for(namespace)
        with transaction.atomic():
            conversations = Conversation.objects.bulk_create(
                [Conversation(namespace=namespace, group_id=f"g{k % 20}", topic=f"topic {k}") for k in range(100)]
            )
            chats = []
            for k in range(SCRATCH_PARENTS):
                user_ids = sorted({f"w{k}-a", f"w{k}-b", f"w{(k + 1) % SCRATCH_PARENTS}-a"})
                chats.append(Chat(namespace=namespace, user_ids=user_ids, members_key=members_key_of(user_ids)))
            Chat.objects.bulk_create(chats)
            doomed = Conversation.objects.bulk_create(
                [Conversation(namespace=namespace, group_id="doomed", topic=f"to delete {k}") for k in range(deletes)],
                batch_size=5000,
            )
        self.scratch_conversations = [Parent(key, str(c.pk)) for c in conversations]
        self.scratch_chats = [Parent(key, str(c.pk), c.user_ids) for c in chats]
        self.doomed = iter([Parent(key, str(c.pk)) for c in doomed])
        self.scratch_key = key

    # ------------------------------------------------------------ bodies

    def bodies(self, rpc, count):
        """`count` (key, body) pairs for one phase of `rpc`. Bodies that must
        be unique are unique across all phases of the run."""
        phase = next(self.phases)
        rng, pick = self.rng, self.rng.choice
        cyclic = min(count, 1000)
        if rpc == "Streams/ListMessages":
            return [(p.key, {"conversation_id": p.id}) for p in (pick(self.conversations) for _ in range(cyclic))]
        if rpc == "Chats/ListMessages":
            return [(p.key, {"chat_id": p.id}) for p in (pick(self.chats) for _ in range(cyclic))]
        if rpc == "Streams/ReadConversation":
            return [(p.key, {"id": p.id}) for p in (pick(self.conversations) for _ in range(cyclic))]
        if rpc == "Streams/ListConversations":
            return [(key, {"group_id": group}) for key, group in (pick(self.groups) for _ in range(cyclic))]
        if rpc == "Streams/RecentMessages":
            out = []
            for _ in range(cyclic):
                key, ids = pick(self.recent)
                body = {"conversation_ids": rng.sample(ids, min(RECENT_IDS, len(ids)))}
                out.append((key, {**body, "limit_per_conversation": RECENT_LIMIT}))
            return out
        key = self.scratch_key
        if rpc == "Streams/CreateConversation":
            return [(key, {"group_id": f"g{i % 20}", "topic": f"bench {phase}-{i}"}) for i in range(cyclic)]
        if rpc == "Streams/CreateMessage":
            return [
                (key, {"conversation_id": pick(self.scratch_conversations).id, "author_id": f"user{i % 10}", "text": t})
                for i, t in enumerate(self.some_texts(cyclic))
            ]
        if rpc == "Chats/CreateMessage":
            out = []
            for text in self.some_texts(cyclic):
                chat = pick(self.scratch_chats)
                out.append((key, {"chat_id": chat.id, "author_id": pick(chat.user_ids), "text": text}))
            return out
        if rpc == "Streams/UpdateConversation":
            return [(key, {"id": pick(self.scratch_conversations).id, "topic": f"renamed {i}"}) for i in range(cyclic)]
        if rpc == "Chats/CreateChat":
            return [
                (key, {"user_ids": [f"p{phase}-{i}-c", f"p{phase}-{i}-a", f"p{phase}-{i}-b"]}) for i in range(count)
            ]
        if rpc == "Streams/DeleteConversation":
            try:
                return [(key, {"id": next(self.doomed).id}) for _ in range(count)]
            except StopIteration:
                raise RuntimeError("Out of conversations to delete: the run made too few.") from None
        raise KeyError(rpc)

    def some_texts(self, count):
        return [self.texts.text() for _ in range(count)]


def encode(body):
    return json.dumps(body, separators=(",", ":")).encode()
