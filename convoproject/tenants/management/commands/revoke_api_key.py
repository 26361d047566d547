from django.core.management.base import BaseCommand, CommandError

from convoproject.tenants.keys import revoke_api_key


class Command(BaseCommand):
    help = "Revoke an API key: it is refused from the next request on."

    def add_arguments(self, parser):
        parser.add_argument("key")

    def handle(self, *args, key, **options):
        api_key = revoke_api_key(key.strip())
        if api_key is None:
            raise CommandError("No such API key.")
        self.stdout.write(f"Revoked API key {api_key.prefix}… of namespace {api_key.namespace.name!r}.")
