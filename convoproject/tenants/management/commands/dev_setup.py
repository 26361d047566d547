from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from convoproject.tenants.keys import create_api_key, find_active_key
from convoproject.tenants.models import Namespace

DEV_NAMESPACE = "micro"
DEV_ADMIN = ("admin", "admin")
KEY_FILE = Path(settings.BASE_DIR) / ".dev-api-key"


class Command(BaseCommand):
    help = "Development only (make run): namespace 'micro', an API key for it and an admin login, printed."

    def add_arguments(self, parser):
        parser.add_argument(
            "--port", type=int, default=8000, help="the port of 127.0.0.1 the server runs on, for the URLs printed"
        )

    def handle(self, *args, **options):
        if not settings.DEVELOPMENT:
            raise CommandError("dev_setup prints a known login: it runs only with CONVO_DEV=1 (make run).")
        namespace, _ = Namespace.objects.get_or_create(name=DEV_NAMESPACE)
        username, password = DEV_ADMIN
        admin = get_user_model().objects.filter(username=username).first()
        if admin is None:
            admin = get_user_model().objects.create_superuser(username, "admin@localhost", password)
        namespace.members.add(admin)
        # Keys are stored hashed: keep the raw dev key in a git-ignored file
        # so that every `make run` prints the same working key.
        raw_key = KEY_FILE.read_text().strip() if KEY_FILE.exists() else ""
        if not raw_key or find_active_key(raw_key) is None:
            _, raw_key = create_api_key(DEV_NAMESPACE)
            KEY_FILE.write_text(raw_key + "\n")
        base = f"http://127.0.0.1:{options['port']}"
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "Development setup (never use these outside your machine):",
                    f"  API key for namespace {DEV_NAMESPACE!r}: {raw_key}",
                    f"  Admin:   {base}/admin/  user {username!r}, password {password!r}",
                    f"  Demo:    {base}/demo/   (log in with the admin login)",
                    f"  Try:     curl -s {base}/protobuf/Streams/CreateConversation \\",
                    f"             -H 'Authorization: Bearer {raw_key}'"
                    + """ -d '{"group_id": "g1", "topic": "Hello"}'""",
                    "",
                ]
            )
        )
