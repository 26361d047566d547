"""The seed documents' html snippets (tests/seeds/*.txt, verbatim copies of
../shared/seeds/*.txt): each "### <Service> <Method>" heading is followed by
one ```html block, a page that loads micro.js and calls one RPC with
Micro.post(path, namespace, body, onSuccess)."""

import json
import re
from dataclasses import dataclass
from pathlib import Path

SEEDS_DIR = Path(__file__).resolve().parents[1] / "seeds"
SEED_FILES = ("streams.txt", "chats.txt")

HEADING = re.compile(r"^### (\S+) (\S+)[ \t]*$", re.MULTILINE)
HTML_BLOCK = re.compile(r"^```html\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
# Micro.post(\n "<path>",\n "<namespace>",\n <body>,\n function (data) {
POST_CALL = re.compile(
    r'Micro\.post\(\s*"(?P<path>[^"]+)",\s*"(?P<namespace>[^"]+)",\s*(?P<body>\{.*?\}),\s*function \(data\)',
    re.DOTALL,
)


@dataclass(frozen=True)
class Snippet:
    service: str  # "Streams"
    method: str  # "CreateConversation"
    html: str  # the block between the fences, exactly as in the file

    @property
    def name(self):
        return f"{self.service} {self.method}"

    def _call(self):
        calls = list(POST_CALL.finditer(self.html))
        assert len(calls) == 1, f"{self.name}: expected one Micro.post call, found {len(calls)}"
        return calls[0]

    @property
    def path(self):
        """The RPC path the snippet posts to."""
        return self._call()["path"]

    @property
    def namespace(self):
        return self._call()["namespace"]

    @property
    def body_text(self):
        """The body argument as written in the snippet (a JSON object literal)."""
        return self._call()["body"]

    @property
    def body(self):
        return json.loads(self.body_text)


def parse(text):
    """The (service, method, html) snippets of one seed document, in order."""
    headings = list(HEADING.finditer(text))
    snippets = []
    for i, heading in enumerate(headings):
        end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
        blocks = HTML_BLOCK.findall(text, heading.end(), end)
        assert len(blocks) == 1, f"{heading.group(0)!r}: expected one html block, found {len(blocks)}"
        snippets.append(Snippet(heading.group(1), heading.group(2), blocks[0]))
    return snippets


def load(directory=SEEDS_DIR):
    """All snippets of the seed documents, streams first, in the files' order."""
    return [snippet for name in SEED_FILES for snippet in parse((directory / name).read_text(encoding="utf-8"))]
