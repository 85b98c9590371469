"""Page-number pagination: {"count", "next", "previous", "results"}."""

from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"  # a value that is not a positive number falls back to page_size
    max_page_size = 1000
