"""Cursor pages, newest first: no COUNT, each page one indexed read of
page_size + 1 rows. The cursor holds the timestamp (the index's column);
the id only breaks ties (rows of one instant), so that every query orders
them alike and a page boundary inside a tie neither repeats nor skips a row;
the index gives the order and the database sorts only within a tie
(PostgreSQL's Incremental Sort). A bad page_size or cursor is a 400, never a 500."""

from django.utils.dateparse import parse_datetime
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination


class NewestFirst(CursorPagination):
    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"
    ordering = ("-created_at", "-id")

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        size = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 6 else 0
        if not 1 <= size <= self.max_page_size:
            raise exceptions.ValidationError({"page_size": [f"Enter a whole number from 1 to {self.max_page_size}."]})
        return size

    def decode_cursor(self, request):
        if self.cursor_query_param not in request.query_params:
            return None
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            cursor = None
        # The position is compared with a timestamp column: it must be one.
        if cursor is None or (cursor.position is not None and not valid_position(cursor.position)):
            raise exceptions.ValidationError({self.cursor_query_param: ["Invalid cursor."]})
        return cursor

    def get_paginated_response_schema(self, schema):
        answer = super().get_paginated_response_schema(schema)
        example = (
            "https://convo.example.com/api/moderation/log/?cursor=cD0yMDI0LTAzLTEwKzEyJTNBMDAlM0EwMCUyQjAwJTNBMDA%3D"
        )
        answer["properties"]["next"]["example"] = example
        answer["properties"]["previous"]["example"] = example.replace("cD0", "cj0xJnA9")
        answer["properties"]["next"]["description"] = "The next (older) page, or null after the last."
        answer["properties"]["previous"]["description"] = "The previous (newer) page, or null on the first."
        return answer

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
                parameter["description"] = f"Results per page: 1 to {self.max_page_size}, {self.page_size} if absent."
        return parameters


def valid_position(position: str) -> bool:
    try:
        return parse_datetime(position) is not None
    except ValueError:
        return False


class NewestSent(NewestFirst):
    ordering = ("-sent_at", "-id")
