"""What Streams messages and Chats messages share, one module per concern:

- `models`: the abstract message model, its unique (namespace, parent,
  sent_at) index and the moderators' indexes;
- `ordering`: the ordering guarantee of CONTRACT 3 (a new message locks its
  parent and gets a sent_at after the newest one);
- `pages`: the newest-first page every ListMessages reads;
- `serializers`: the wire form of a message (DRF, for the RPCs and their
  OpenAPI document).

A message belongs to a parent (a conversation or a chat); the model's
`PARENT` names the foreign key. Nothing here imports an app: each app builds
its statements from these (streams/statements.py, chats/statements.py).
"""
