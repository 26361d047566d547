"""The database and data of `manage.py bench_wrk`, on this process's database
(DATABASE_URL): created if missing (PostgreSQL), migrated, then seeded.

Seeding is quick and safe to repeat: namespace `bench.wrk` with exactly one
API key (a new one each time: only its digest is stored, and the run needs
the raw key), the read conversation with `messages` messages (kept from an
earlier run when it has exactly that many), and a new conversation to send
into.
"""

import dataclasses
import datetime

from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from convoproject.tenants.keys import create_api_key
from convoproject.tenants.models import ApiKey, Namespace
from streams.models import Conversation, Message

NAMESPACE = "bench.wrk"
GROUP = "bench-wrk"
READ_TOPIC = "bench_wrk: read"
SEND_TOPIC = "bench_wrk: send"
STEP = datetime.timedelta(seconds=1)


@dataclasses.dataclass(frozen=True)
class Seeded:
    key: str  # the raw API key
    read_id: str
    send_id: str
    read_messages: int
    made: bool  # the read conversation was (re)made, not reused


def create_database_if_missing(*, log=print):
    """PostgreSQL: create this connection's database if missing, through the
    server's maintenance database `postgres` (bench_wrk and bench_live)."""
    if connection.vendor != "postgresql":
        return
    import psycopg

    params = connection.get_connection_params()
    name = params.pop("dbname")
    params = {k: v for k, v in params.items() if k not in ("cursor_factory", "context", "prepare_threshold")}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as maintenance:
        if not maintenance.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            log(f"Creating the database {name}")
            maintenance.execute(f'CREATE DATABASE "{name}"')


def prepare_database(*, log=print):
    """PostgreSQL: create the database if missing, no statement timeout in
    this session. Then migrate."""
    create_database_if_missing(log=log)
    if connection.vendor == "postgresql":
        # Migrations and seeding only (this command's own session): an index
        # build may take longer than the server's statement timeout.
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 0")
            cursor.execute("SET lock_timeout = 0")
    call_command("migrate", interactive=False, verbosity=0)


def seed(*, messages: int = 5000, log=print) -> Seeded:
    namespace, _ = Namespace.objects.get_or_create(name=NAMESPACE)
    ApiKey.objects.filter(namespace=namespace).delete()
    _, key = create_api_key(NAMESPACE, rate_limit_per_minute=0)  # 0: no limit, whatever the settings say
    read, made = read_conversation(namespace, messages, log)
    send = Conversation.objects.create(namespace=namespace, group_id=GROUP, topic=SEND_TOPIC)
    return Seeded(key=key, read_id=str(read.pk), send_id=str(send.pk), read_messages=messages, made=made)


def read_conversation(namespace, messages, log):
    """The conversation of `messages` messages, one second apart, the newest a
    day ago (so a message sent now is never before it): (conversation, made)."""
    found = Conversation.objects.filter(namespace=namespace, topic=READ_TOPIC)
    for conversation in found:
        if Message.objects.filter(conversation=conversation).count() == messages:
            return conversation, False
    found.delete()
    log(f"Seeding a conversation of {messages:,} messages")
    end = timezone.now().replace(microsecond=0) - datetime.timedelta(days=1)
    with transaction.atomic():
        conversation = Conversation.objects.create(namespace=namespace, group_id=GROUP, topic=READ_TOPIC)
        Message.objects.bulk_create(
            (
                Message(
                    namespace=namespace,
                    conversation=conversation,
                    author_id=f"user{i % 7}",
                    text=f"Message {i} of the read conversation",
                    sent_at=end - STEP * (messages - 1 - i),
                )
                for i in range(messages)
            ),
            batch_size=1000,
        )
    return conversation, True
