"""`manage.py loadtest`: a bounded load test over HTTP (bench/load.py).

    python manage.py loadtest --requests 100000 --threads 64 --workers 4

boots gunicorn (--workers gthread workers of --server-threads threads) on the
configured database (DATABASE_URL), makes an API key of a new namespace
`load-…`, then sends --requests RPCs from --threads client threads on
--conversations shared conversations and --chats shared chats, and checks
that nothing was lost, repeated or reordered (see bench/load.py). Exits 1 on
any violation. With --base-url it loads a server that already runs instead;
the key is then made in the configured database, which must be the server's,
unless --api-key gives one.
"""

import secrets
import sys
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from bench import load
from convoproject.tenants.keys import create_api_key
from tests.support.server import database_url


class Command(BaseCommand):
    help = "Load the API over HTTP from many threads and check that no message is lost, repeated or reordered."

    def add_arguments(self, parser):
        parser.add_argument("--requests", type=int, default=5000, help="Total requests (setup and check not counted).")
        parser.add_argument("--threads", type=int, default=40, help="Client threads, one keep-alive connection each.")
        parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (gthread).")
        parser.add_argument("--server-threads", type=int, default=4, help="Threads per gunicorn worker.")
        parser.add_argument("--conversations", type=int, default=4, help="Shared conversations.")
        parser.add_argument("--chats", type=int, default=3, help="Shared chats.")
        parser.add_argument("--page-size", type=int, default=100, help="ListMessages limit of the final check.")
        parser.add_argument(
            "--idempotent-share", type=float, default=0.5, help="Share of writes sent with an Idempotency-Key."
        )
        parser.add_argument("--seed", type=int, help="Random seed of the request mix (default: random).")
        parser.add_argument("--base-url", help="Load this running server (http://host:port) instead of booting one.")
        parser.add_argument("--api-key", help="With --base-url: a key of the server (default: made here).")
        parser.add_argument("--log", help="gunicorn's output goes here (default: a file in the temp directory).")

    def handle(self, *args, **options):
        if options["workers"] < 1 or options["server_threads"] < 1:
            raise CommandError("--workers and --server-threads must be at least 1.")
        if not 0 <= options["idempotent_share"] <= 1:
            raise CommandError("--idempotent-share is a fraction from 0 to 1.")
        key = options["api_key"]
        if key is None:
            _, key = create_api_key(f"load-{secrets.token_hex(4)}")
        log_path = options["log"]
        if not options["base_url"]:
            log_path = log_path or Path(tempfile.gettempdir()) / f"convo-loadtest-{secrets.token_hex(4)}.log"
            database = connection.settings_dict
            self.stderr.write(
                f"Booting gunicorn: {options['workers']} workers x {options['server_threads']} threads on "
                f"{connection.vendor} ({database['NAME']}), its log in {log_path}"
            )
        url = None if options["base_url"] else database_url(connection.settings_dict)
        connection.close()  # the server's connections, not this one, do the work
        label = "" if options["base_url"] else f" ({options['workers']} gunicorn workers on {connection.vendor})"
        progress = self.stderr if options["verbosity"] > 0 else None
        try:
            with load.target(
                options["base_url"],
                database_url=url,
                workers=options["workers"],
                threads=options["server_threads"],
                log_path=log_path,
            ) as (base_url, server):
                result = load.run(
                    base_url,
                    key,
                    server,
                    requests=options["requests"],
                    threads=options["threads"],
                    conversations=options["conversations"],
                    chats=options["chats"],
                    page_size=options["page_size"],
                    idempotent_share=options["idempotent_share"],
                    seed=options["seed"],
                    progress=progress,
                    label=label,
                )
        except (RuntimeError, ValueError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(result.summary)
        if log_path is not None and not options["base_url"]:
            if result.ok and not options["log"]:
                Path(log_path).unlink(missing_ok=True)  # a clean run's log tells nothing
            else:
                self.stdout.write(f"gunicorn's log: {log_path}")
        if not result.ok:
            sys.exit(1)
