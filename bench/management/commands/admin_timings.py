import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from bench import admin_pages


class Command(BaseCommand):
    help = (
        "Time the moderation admin's pages (median of --runs, SQL query count, the slowest query and its plan) "
        "against the configured database. Seed it first: python manage.py seed --settings=bench.settings ..."
    )

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=5, help="Timed renders per page, after one warm-up.")
        parser.add_argument("--only", help="Only the pages whose label contains this text.")
        parser.add_argument(
            "--skip", action="append", default=[], help="Leave out the pages whose label contains this (repeatable)."
        )
        parser.add_argument(
            "--timeout", type=float, default=60, help="PostgreSQL: cancel a statement after this many seconds."
        )
        parser.add_argument("--no-plans", action="store_true", help="Leave out the slowest queries and plans.")
        parser.add_argument("--target", type=float, default=300, help="Flag pages whose median is over (ms).")
        parser.add_argument("--fail-over-target", action="store_true", help="Exit 1 if any page is over --target.")

    def handle(self, *args, **options):
        if options["runs"] < 1:
            raise CommandError("--runs must be at least 1.")
        say = self.stderr.write if options["verbosity"] > 0 else lambda *_: None
        try:
            page_list = admin_pages.pages(log=say)
        except RuntimeError as error:
            raise CommandError(str(error)) from error
        if options["only"]:
            page_list = [page for page in page_list if options["only"] in page[0]]
        page_list = [page for page in page_list if not any(s in page[0] for s in options["skip"])]
        if not page_list:
            raise CommandError("No page left to time: see --only and --skip.")
        results = admin_pages.time_pages(
            page_list,
            runs=options["runs"],
            with_plans=not options["no_plans"],
            progress=lambda r: say(
                f"  {r.label}: "
                + ((r.error if r.skipped else f"FAILED: {r.error}") if r.error else f"{r.median:.1f} ms")
            ),
            timeout_s=options["timeout"],
        )
        if not options["no_plans"]:
            self.stdout.write(admin_pages.details(results))
        vendor = connection.vendor
        self.stdout.write(
            f"\nModeration admin on {vendor} ({connection.settings_dict['NAME']}), "
            f"median of {options['runs']} warm renders:\n"
        )
        self.stdout.write(admin_pages.table(results, target_ms=options["target"]))
        over = [r.label for r in results if r.median > options["target"] and not r.skipped]
        if over:
            self.stdout.write(f"\n{len(over)} page(s) over the {options['target']:.0f} ms target or failed.")
            if options["fail_over_target"]:
                sys.exit(1)
