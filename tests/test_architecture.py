"""docs/ARCHITECTURE.md's import rules, read from the code itself: each room
imports only the rooms the table there allows, models import neither DRF nor
the protocol, and nothing in the product imports the tests or the bench."""

import ast
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)

# Module prefix -> room, the longest prefix first.
ROOMS = {
    "convoproject.rpc": "protocol",
    "convoproject.sql": "sql",
    "convoproject.tenants": "tenants",
    "convoproject.messaging": "messaging",
    "convoproject.moderation": "moderation",
    "convoproject.live": "live",
    "convoproject.web": "web",
    "convoproject": "project",
    "streams": "streams",
    "chats": "chats",
    "tests.support": "test support",
    "tests": "tests",
    "bench": "bench",
}
PRODUCT = {"protocol", "sql", "tenants", "messaging", "moderation", "live", "web", "project", "streams", "chats"}
# Which rooms each room may import (besides itself): the table of docs/ARCHITECTURE.md.
ALLOWED = {
    "protocol": {"tenants", "sql"},
    "sql": set(),
    # sql: the key's lookup (tenants/statements.py); moderation: its admin records a revoke
    "tenants": {"sql", "moderation"},
    "messaging": {"tenants", "sql", "protocol"},
    "streams": {"messaging", "sql", "protocol", "tenants", "moderation", "live"},
    "chats": {"messaging", "sql", "protocol", "tenants", "moderation", "live"},
    # The moderation API (moderation/api/) and the selection's timestamps speak the protocol's
    # envelope, fields and RFC 3339; the protocol imports no moderation.
    "moderation": {"tenants", "live", "protocol"},
    "live": {"protocol", "sql", "tenants"},
    "web": {"tenants"},
    "project": PRODUCT,
    "test support": PRODUCT,
    "tests": PRODUCT | {"test support", "bench"},
    "bench": PRODUCT | {"test support"},
}
FRAMEWORK = ("rest_framework", "drf_spectacular")


def room_of(module):
    for prefix, room in ROOMS.items():
        if module == prefix or module.startswith(prefix + "."):
            return room
    return None


def modules():
    """(module name, path) of every Python file of ours but migrations."""
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0].startswith(".") or "migrations" in relative.parts or relative.parts[0] == "manage.py":
            continue
        name = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        if room_of(name):
            yield name, path


def imports_of(name, path):
    """The absolute names of the modules a file imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names if room_of(f"{base}.{alias.name}")}
    return found


MODULES = dict(modules())


def test_every_room_is_found():
    assert {room_of(name) for name in MODULES} == set(ALLOWED)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_follow_the_rooms(name):
    room = room_of(name)
    for imported in imports_of(name, MODULES[name]):
        other = room_of(imported)
        if other is not None and other != room:
            assert other in ALLOWED[room], f"{name} ({room}) imports {imported} ({other})"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.endswith(".models") and room_of(n) in PRODUCT))
def test_models_import_neither_drf_nor_the_protocol(name):
    for imported in imports_of(name, MODULES[name]):
        assert not imported.startswith(FRAMEWORK), f"{name} imports {imported}"
        assert room_of(imported) != "protocol" or room_of(name) == "protocol", f"{name} imports {imported}"


def test_the_services_do_not_import_each_other():
    for name, path in MODULES.items():
        room = room_of(name)
        if room in ("streams", "chats"):
            other = "chats" if room == "streams" else "streams"
            assert not any(room_of(i) == other for i in imports_of(name, path)), name
