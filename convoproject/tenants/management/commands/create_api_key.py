from django.core.management.base import BaseCommand, CommandError

from convoproject.tenants.keys import create_api_key


class Command(BaseCommand):
    help = "Create an API key for NAMESPACE (created if missing). The key is printed once, on the last line."

    def add_arguments(self, parser):
        parser.add_argument("namespace")
        parser.add_argument(
            "--rate-limit",
            type=int,
            metavar="N",
            help="requests per minute for this key (0: unlimited); default: the RATE_LIMIT_PER_MINUTE setting",
        )

    def handle(self, *args, namespace, rate_limit=None, **options):
        namespace = namespace.strip()
        if not namespace:
            raise CommandError("NAMESPACE must not be blank")
        if rate_limit is not None and rate_limit < 0:
            raise CommandError("--rate-limit must be 0 or more")
        api_key, raw_key = create_api_key(namespace, rate_limit_per_minute=rate_limit)
        self.stdout.write(f"Created API key {api_key.prefix}… for namespace {namespace!r}. It is shown only once:")
        self.stdout.write(raw_key)
