from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from messaging_site.pagination import TextCursorPagination

from . import selectors, services
from .serializers import (
    BoardDetailSerializer,
    BoardInputSerializer,
    BoardMessageInputSerializer,
    BoardMessagePageSerializer,
    BoardMessageSerializer,
    BoardMessagesQuerySerializer,
    BoardSerializer,
)


class BoardPagination(TextCursorPagination):
    # Alphabetical, ignoring case: `board_list()` annotates this unique key.
    ordering = "name_lower"


class BoardViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Public message boards: every signed-in user reads and posts; moderators lock them."""

    serializer_class = BoardSerializer
    pagination_class = BoardPagination
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.board_list()

    @extend_schema(request=BoardInputSerializer, responses={201: BoardSerializer})
    def create(self, request):
        data = BoardInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        board = services.board_create(actor=request.user, **data.validated_data)
        return Response(BoardSerializer(board).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=BoardDetailSerializer)
    def retrieve(self, request, pk):
        return Response(BoardDetailSerializer(selectors.board_get(board_id=int(pk))).data)

    @extend_schema(parameters=[BoardMessagesQuerySerializer], responses=BoardMessagePageSerializer)
    @action(detail=True)
    def messages(self, request, pk):
        """The board's posts, newest first; follow `next` for older ones."""
        board = selectors.board_get(board_id=int(pk), with_message_count=False)
        query = BoardMessagesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        messages, has_more = selectors.board_messages(board=board, **query.validated_data)
        next_url = None
        if has_more:
            # Same filters and limit, older than the last post shown.
            next_url = replace_query_param(request.build_absolute_uri(), "before", messages[-1].pk)
        page = {"results": messages, "next": next_url, "previous": None}
        return Response(BoardMessagePageSerializer(page).data)

    @extend_schema(request=BoardMessageInputSerializer, responses={201: BoardMessageSerializer})
    @messages.mapping.post
    def post_message(self, request, pk):
        """Post `{topic, data}` as the caller; subscribers get it live once it commits."""
        board = selectors.board_get(board_id=int(pk), with_message_count=False)
        data = BoardMessageInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.board_post(actor=request.user, board=board, **data.validated_data)
        return Response(BoardMessageSerializer(message).data, status=status.HTTP_201_CREATED)
