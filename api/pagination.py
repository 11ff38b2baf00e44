from rest_framework.pagination import CursorPagination


class CreatedCursorPagination(CursorPagination):
    """Newest first; stable under inserts (a cursor, not an offset)."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class OldestFirstCursorPagination(CreatedCursorPagination):
    """A ticket's thread reads oldest first."""

    ordering = ("created_at", "id")
