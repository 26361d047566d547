from django.core.management.base import BaseCommand, CommandError

from convoproject.tenants.keys import create_api_key


class Command(BaseCommand):
    help = "Create an API key for NAMESPACE (created if missing). The key is printed once, on the last line."

    def add_arguments(self, parser):
        parser.add_argument("namespace")

    def handle(self, *args, namespace, **options):
        namespace = namespace.strip()
        if not namespace:
            raise CommandError("NAMESPACE must not be blank")
        api_key, raw_key = create_api_key(namespace)
        self.stdout.write(f"Created API key {api_key.prefix}… for namespace {namespace!r}. It is shown only once:")
        self.stdout.write(raw_key)
