"""REST for conversations, members and messages (/api/schema/). Thin: parse, call a
selector or service, render."""

import asyncio
import json
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import AsyncIterator
from datetime import datetime

from django.http import StreamingHttpResponse
from django.utils.csp import CSP
from django.utils.decorators import method_decorator
from django.utils.http import content_disposition_header
from django.views.decorators.csp import csp_override
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from messaging_site.converters import MAX_ID
from messaging_site.pagination import CursorPagination, PrerenderedJSON

from . import listing, memberships, presence, search, selectors, services, uploads
from .serializers import (
    AttachmentSerializer,
    ConversationCreateSerializer,
    ConversationListItemSerializer,
    ConversationSerializer,
    DirectMessageCreateSerializer,
    InboxItemSerializer,
    JoinResponseSerializer,
    MemberAddSerializer,
    MemberSerializer,
    MentionSerializer,
    MessageCreateSerializer,
    MessageEditSerializer,
    MessagePageSerializer,
    MessageSerializer,
    MessageUpdateSerializer,
    PresenceSerializer,
    ReactionCreateSerializer,
    ReadSerializer,
    RoleSerializer,
    RoomSerializer,
    SearchResultSerializer,
    UploadCreateSerializer,
)


def _cursor_token(request, paginator: CursorPagination) -> list | None:
    """The JSON list a keyset paginator wrote into its cursor parameter, or None when
    there is none; anything else that comes back is NotFound, as DRF answers a bad cursor."""
    encoded = request.query_params.get(paginator.cursor_query_param)
    if encoded is None:
        return None
    try:
        token = json.loads(urlsafe_b64decode(encoded))
    except (ValueError, TypeError):
        raise NotFound(paginator.invalid_cursor_message) from None
    if not isinstance(token, list):
        raise NotFound(paginator.invalid_cursor_message)
    return token


class ActivityPagination(CursorPagination):
    """Keyset on (activity, conversation id), both in the cursor, so ties need no offset.

    The page itself comes from chat.listing; this class parses and writes the cursor, and
    describes the envelope in the schema exactly as every other list's.
    """

    # The cursor holds (activity, conversation id); this names the order for the schema.
    ordering = "-activity"

    def respond(self, request, *, inbox: bool) -> Response:
        url = request.build_absolute_uri()
        page = listing.conversation_page(
            user=request.user,
            cursor=self._decode(request),
            limit=self.get_page_size(request) or self.page_size,
            inbox=inbox,
        )
        links = {"next": self._link(url, page.next), "previous": self._link(url, page.previous)}
        # Already JSON, from PostgreSQL: only the envelope is written here.
        head = json.dumps(links)[:-1]
        return Response(PrerenderedJSON(f'{head}, "results": {page.results}}}'))

    def _decode(self, request) -> listing.Cursor | None:
        token = _cursor_token(request, self)
        if token is None:
            return None
        try:
            activity, conversation_id, reverse = token
            if type(conversation_id) is not int:  # not 1.5, not 1e400, not true
                raise TypeError("a conversation id is an integer")
            cursor = listing.Cursor(
                datetime.fromisoformat(activity), conversation_id, bool(reverse)
            )
        except (ValueError, TypeError):
            raise NotFound(self.invalid_cursor_message) from None
        # Only what this class writes gets through to the database: an aware time, an id.
        if cursor.activity.tzinfo is None or not 0 < cursor.conversation_id <= MAX_ID:
            raise NotFound(self.invalid_cursor_message)
        return cursor

    def _link(self, url: str, cursor: listing.Cursor | None) -> str | None:
        if cursor is None:
            return None
        token = [cursor.activity.isoformat(), cursor.conversation_id, int(cursor.reverse)]
        encoded = urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode())
        return replace_query_param(url, self.cursor_query_param, encoded.decode())


class SearchPagination(CursorPagination):
    """Keyset on the message id, newest first; the page comes from chat.search."""

    ordering = "-id"
    page_size = search.DEFAULT_PAGE
    max_page_size = search.MAX_PAGE

    def respond(self, request, filters: search.Filters) -> Response:
        page = search.search(
            user=request.user,
            q=request.query_params.get("q"),
            filters=filters,
            cursor=self._decode(request),
            limit=self.get_page_size(request) or self.page_size,
        )
        following = None
        if page.next is not None:
            encoded = urlsafe_b64encode(json.dumps([page.next.message_id]).encode())
            following = replace_query_param(
                request.build_absolute_uri(), self.cursor_query_param, encoded.decode()
            )
        # Forward only: results are read newest first, page after page.
        head = json.dumps({"next": following, "previous": None})[:-1]
        return Response(PrerenderedJSON(f'{head}, "results": {page.results}}}'))

    def _decode(self, request) -> search.Cursor | None:
        token = _cursor_token(request, self)
        if token is None:
            return None
        if len(token) != 1 or type(token[0]) is not int or not 0 < token[0] <= MAX_ID:
            raise NotFound(self.invalid_cursor_message)
        return search.Cursor(token[0])


class MemberPagination(CursorPagination):
    ordering = "id"


# Built once: a ModelSerializer derives its fields from the model for every instance,
# which was a third of the CPU of answering a send.
_message = MessageSerializer()


def _sent(message, created):
    return Response(
        _message.to_representation(message),
        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )


class ConversationListView(GenericAPIView):
    pagination_class = ActivityPagination
    serializer_class = ConversationListItemSerializer

    @extend_schema(
        operation_id="conversations_list", responses=ConversationListItemSerializer(many=True)
    )
    def get(self, request):
        """The caller's conversations, most recently active first, with unread counts."""
        return ActivityPagination().respond(request, inbox=False)

    @extend_schema(
        request=ConversationCreateSerializer,
        responses={201: ConversationSerializer},
        examples=[
            OpenApiExample("A group", value={"kind": "group", "name": "Team"}, request_only=True),
            OpenApiExample("A room", value={"kind": "room", "name": "Chess"}, request_only=True),
        ],
    )
    def post(self, request):
        """Create a group (private) or a room (public by name); you are its admin."""
        data = ConversationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = services.conversation_create(actor=request.user, **data.validated_data)
        detail = selectors.conversation_detail(user=request.user, conversation_id=conversation.pk)
        return Response(ConversationSerializer(detail).data, status=status.HTTP_201_CREATED)


class ConversationDetailView(GenericAPIView):
    serializer_class = ConversationSerializer

    def get(self, request, conversation_id):
        detail = selectors.conversation_detail(user=request.user, conversation_id=conversation_id)
        return Response(ConversationSerializer(detail).data)


class DirectMessageView(GenericAPIView):
    serializer_class = DirectMessageCreateSerializer

    @extend_schema(
        responses={201: MessageSerializer, 200: MessageSerializer},
        examples=[
            OpenApiExample(
                "A first message",
                value={"user_id": 2, "text": "Lunch at noon?", "client_id": "b7e1c0de"},
                request_only=True,
            ),
        ],
    )
    def post(self, request):
        """Message one person; the direct conversation is created on first use."""
        data = DirectMessageCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message, created = services.direct_message_send(
            sender=request.user,
            recipient_id=data.validated_data["user_id"],
            text=data.validated_data["text"],
            client_id=data.validated_data.get("client_id"),
            reply_to=data.validated_data.get("reply_to"),
            attachments=data.validated_data.get("attachments"),
        )
        return _sent(message, created)


def _members(request, rows: list) -> list[dict]:
    """Members as the reader sees them, presence included (one query and one Redis round
    trip for a page)."""
    seen = presence.of_members(viewer_id=request.user.pk, members=rows)
    return list(MemberSerializer(rows, many=True, context={"presence": seen}).data)


class PresenceView(GenericAPIView):
    serializer_class = PresenceSerializer
    MAX_USERS = 200

    @extend_schema(
        parameters=[OpenApiParameter("user_ids", str, required=True, description="1,2,3")],
        responses=PresenceSerializer(many=True),
    )
    def get(self, request):
        """Presence of these users as you may see it: offline for anyone who shares no
        conversation with you or blocks you."""
        given = request.query_params.get("user_ids", "")
        parts = [part.strip() for part in given.split(",") if part.strip()]
        if (
            not parts
            or len(parts) > self.MAX_USERS
            or not all(
                part.isascii() and part.isdigit() and 0 < int(part) <= MAX_ID for part in parts
            )
        ):
            raise ValidationError(
                {"user_ids": [f"1 to {self.MAX_USERS} user ids, separated by commas."]}
            )
        ids = list(dict.fromkeys(int(part) for part in parts))
        seen = presence.visible_to(viewer_id=request.user.pk, user_ids=ids)
        return Response(
            [
                {"user_id": i, "status": seen[i].status, "last_seen": seen[i].last_seen_iso()}
                for i in ids
            ]
        )


class MemberListView(GenericAPIView):
    pagination_class = MemberPagination
    serializer_class = MemberSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("search", str, description="the start of a username, any case")
        ],
        responses=MemberSerializer(many=True),
    )
    def get(self, request, conversation_id):
        """Approved members; admins also see pending requests."""
        _, membership = selectors.conversation_for_reader(
            user=request.user, conversation_id=conversation_id
        )
        members = selectors.members_visible_to(
            membership=membership, search=request.query_params.get("search", "")
        )
        page = self.paginate_queryset(members) or []
        return self.get_paginated_response(_members(request, page))

    @extend_schema(
        request=MemberAddSerializer, responses={201: MemberSerializer, 200: MemberSerializer}
    )
    def post(self, request, conversation_id):
        """An admin adds a user, approved at once (201); one already approved: 200."""
        conversation = selectors.conversation_for_viewer(
            user=request.user, conversation_id=conversation_id
        )
        data = MemberAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership, changed = memberships.membership_add(
            actor=request.user, conversation=conversation, user_id=data.validated_data["user_id"]
        )
        return Response(
            _members(request, [membership])[0],
            status=status.HTTP_201_CREATED if changed else status.HTTP_200_OK,
        )


class MemberDetailView(GenericAPIView):
    serializer_class = MemberSerializer

    def delete(self, request, conversation_id, user_id):
        """An admin removes a member, or a member leaves (their own id)."""
        conversation = selectors.conversation_for_viewer(
            user=request.user, conversation_id=conversation_id
        )
        memberships.membership_remove(
            actor=request.user, conversation=conversation, user_id=user_id
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class JoinView(GenericAPIView):
    serializer_class = JoinResponseSerializer

    @extend_schema(request=None, responses={202: JoinResponseSerializer})
    def post(self, request, conversation_id):
        """Ask to join a room; an admin approves or rejects."""
        conversation = selectors.conversation_for_viewer(
            user=request.user, conversation_id=conversation_id
        )
        membership = memberships.membership_request(actor=request.user, conversation=conversation)
        return Response({"status": membership.status}, status=status.HTTP_202_ACCEPTED)


class MemberDecisionView(GenericAPIView):
    """approve / reject / ban, chosen by the URL."""

    serializer_class = MemberSerializer
    decisions = {
        "approve": memberships.membership_approve,
        "reject": memberships.membership_reject,
        "ban": memberships.membership_ban,
    }
    decision: str = ""

    @extend_schema(request=None, responses={200: MemberSerializer})
    def post(self, request, conversation_id, user_id):
        conversation = selectors.conversation_for_viewer(
            user=request.user, conversation_id=conversation_id
        )
        membership = self.decisions[self.decision](
            actor=request.user, conversation=conversation, user_id=user_id
        )
        return Response(_members(request, [membership])[0])


class MemberRoleView(GenericAPIView):
    serializer_class = RoleSerializer

    @extend_schema(responses={200: MemberSerializer})
    def post(self, request, conversation_id, user_id):
        """An admin promotes or demotes a member."""
        conversation = selectors.conversation_for_viewer(
            user=request.user, conversation_id=conversation_id
        )
        data = RoleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = memberships.membership_set_role(
            actor=request.user,
            conversation=conversation,
            user_id=user_id,
            role=data.validated_data["role"],
        )
        return Response(_members(request, [membership])[0])


def _valid(serializer_class, request, conversation_id: int):
    """The request's body, checked; bad input is a 400 only for someone who may know of the
    conversation (anyone else gets its 404 and learns nothing from the input)."""
    data = serializer_class(data=request.data)
    if not data.is_valid():
        selectors.conversation_for_viewer(user=request.user, conversation_id=conversation_id)
        raise ValidationError(data.errors)
    return data


class MessageListView(GenericAPIView):
    serializer_class = MessageCreateSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("after_seq", int, description="messages after this seq"),
            OpenApiParameter("before_seq", int, description="messages before this seq"),
            OpenApiParameter("limit", int, description="1..200, default 50"),
        ],
        responses=MessagePageSerializer,
    )
    def get(self, request, conversation_id):
        """History in ascending seq; with no cursor, the newest page."""
        conversation, _ = selectors.conversation_for_reader(
            user=request.user, conversation_id=conversation_id
        )
        results, has_more = selectors.message_page_json(
            user=request.user,
            conversation=conversation,
            after_seq=request.query_params.get("after_seq"),
            before_seq=request.query_params.get("before_seq"),
            limit=request.query_params.get("limit"),
        )
        return Response(
            PrerenderedJSON(f'{{"results": {results}, "has_more": {json.dumps(has_more)}}}')
        )

    @extend_schema(
        responses={201: MessageSerializer, 200: MessageSerializer},
        examples=[
            OpenApiExample(
                "Send, with a client id for safe retries",
                value={"text": "Hello, team", "client_id": "6f1d2c3b"},
                request_only=True,
            ),
            OpenApiExample(
                "The message as stored",
                value={
                    "id": 812,
                    "conversation": 17,
                    "seq": 42,
                    "sender": 1,
                    "sender_username": "alice",
                    "text": "Hello, team",
                    "client_id": "6f1d2c3b",
                    "created_at": "2026-12-02T09:30:00.000000Z",
                    "deleted_at": None,
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request, conversation_id):
        """Send; a retry with the same client_id returns the first message (200)."""
        data = _valid(MessageCreateSerializer, request, conversation_id)
        # The service checks membership under the conversation's lock and answers a
        # non-member with the same 404 / 403 as the selectors would: no query up front.
        message, created = services.message_send(
            sender=request.user,
            conversation_id=conversation_id,
            text=data.validated_data["text"],
            client_id=data.validated_data.get("client_id"),
            reply_to=data.validated_data.get("reply_to"),
            attachments=data.validated_data.get("attachments"),
        )
        return _sent(message, created)


class MessageDetailView(GenericAPIView):
    serializer_class = MessageUpdateSerializer

    @extend_schema(responses=MessageSerializer)
    def patch(self, request, conversation_id, message_id):
        """Edit your message's text (within MESSAGE_EDIT_SECONDS of sending it); the text it
        had is kept for the conversation's admins."""
        data = _valid(MessageUpdateSerializer, request, conversation_id)
        message = services.message_edit(
            actor=request.user,
            conversation_id=conversation_id,
            message_id=message_id,
            text=data.validated_data["text"],
        )
        return _as_seen(request, message)

    @extend_schema(responses={204: None})
    def delete(self, request, conversation_id, message_id):
        """Delete a message: your own at any time; anyone's as the conversation's admin."""
        services.message_delete(
            actor=request.user, conversation_id=conversation_id, message_id=message_id
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


def _as_seen(request, message, status_code=status.HTTP_200_OK) -> Response:
    """A message as the caller sees it, reactions included."""
    selectors.with_reactions(user_id=request.user.pk, messages=[message])
    return Response(_message.to_representation(message), status=status_code)


class ReactionListView(GenericAPIView):
    serializer_class = ReactionCreateSerializer

    @extend_schema(responses={201: MessageSerializer, 200: MessageSerializer})
    def post(self, request, conversation_id, message_id):
        """React with one emoji (201; 200 when you already had); answers with the message."""
        data = _valid(ReactionCreateSerializer, request, conversation_id)
        message, created = services.reaction_add(
            actor=request.user,
            conversation_id=conversation_id,
            message_id=message_id,
            emoji=data.validated_data["emoji"],
        )
        return _as_seen(
            request, message, status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class ReactionDetailView(GenericAPIView):
    @extend_schema(responses={204: None})
    def delete(self, request, conversation_id, message_id, emoji):
        """Take your reaction back (204 also when you had none)."""
        services.reaction_remove(
            actor=request.user, conversation_id=conversation_id, message_id=message_id, emoji=emoji
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageEditsView(GenericAPIView):
    serializer_class = MessageEditSerializer

    @extend_schema(responses=MessageEditSerializer(many=True))
    def get(self, request, conversation_id, message_id):
        """The texts a message had before its edits, oldest first (the conversation's
        admins and site moderators)."""
        edits = selectors.message_edits(
            user=request.user, conversation_id=conversation_id, message_id=message_id
        )
        return Response(MessageEditSerializer(edits, many=True).data)


class ReadView(GenericAPIView):
    serializer_class = ReadSerializer

    @extend_schema(responses={204: None})
    def post(self, request, conversation_id):
        """Move your read cursor forward to `seq` (never backwards)."""
        conversation = selectors.conversation_for_viewer(
            user=request.user, conversation_id=conversation_id
        )
        data = ReadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.conversation_mark_read(
            user=request.user, conversation=conversation, seq=data.validated_data["seq"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class InboxView(GenericAPIView):
    pagination_class = ActivityPagination
    serializer_class = InboxItemSerializer

    @extend_schema(responses=InboxItemSerializer(many=True))
    def get(self, request):
        """ "Check messages": each conversation with unread messages, and up to 50 of them."""
        return ActivityPagination().respond(request, inbox=True)


class MentionListView(GenericAPIView):
    pagination_class = CursorPagination
    serializer_class = MentionSerializer

    @extend_schema(responses=MentionSerializer(many=True))
    def get(self, request):
        """Your recent mentions, newest first, where you may still read them."""
        page = self.paginate_queryset(selectors.mentions_of(user=request.user))
        mentions = selectors.mention_messages(user=request.user, mentions=list(page or []))
        return self.get_paginated_response(MentionSerializer(mentions, many=True).data)


class SearchView(GenericAPIView):
    pagination_class = SearchPagination
    serializer_class = SearchResultSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, required=True, description="1 to 200 characters"),
            OpenApiParameter("conversation", int, description="only this conversation"),
            OpenApiParameter("sender", int, description="only this sender's messages"),
            OpenApiParameter("before", OpenApiTypes.DATETIME, description="sent before"),
            OpenApiParameter("after", OpenApiTypes.DATETIME, description="sent after"),
        ],
        responses=SearchResultSerializer(many=True),
    )
    def get(self, request):
        """Messages you may read that match `q`, newest first, with highlights."""
        filters = search.filters_from(request.query_params)
        if filters.conversation_id is not None:
            selectors.conversation_for_reader(
                user=request.user, conversation_id=filters.conversation_id
            )
        return SearchPagination().respond(request, filters)


class RoomListView(GenericAPIView):
    pagination_class = CursorPagination
    serializer_class = RoomSerializer

    @extend_schema(
        parameters=[OpenApiParameter("search", str, description="part of the name")],
        responses=RoomSerializer(many=True),
    )
    def get(self, request):
        """Rooms anyone may ask to join."""
        rooms = selectors.rooms_search(
            user=request.user, search=request.query_params.get("search", "")
        )
        page = self.paginate_queryset(rooms)
        return self.get_paginated_response(RoomSerializer(page, many=True).data)


class UploadListView(GenericAPIView):
    serializer_class = UploadCreateSerializer
    # Multipart only: the one body that may pass the 1 MiB limit (messaging_site/asgi.py).
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": UploadCreateSerializer},
        responses={201: AttachmentSerializer},
    )
    def post(self, request):
        """Upload a file (multipart, field `file`), then send it in a message's
        `attachments`. Its type is read from its bytes; images (PNG, JPEG, GIF, WebP) lose
        their metadata and get a thumbnail. Over UPLOAD_MAX_BYTES: 413. Until a message
        carries it, only you can get it; uploads no message takes within
        UPLOAD_UNATTACHED_SECONDS are deleted."""
        file = request.FILES.get("file")
        if file is None:
            raise ValidationError({"file": ["Send the file as multipart form data, field `file`."]})
        upload = uploads.upload_create(uploader=request.user, file=file)
        return Response(uploads.attachment_shape(upload), status=status.HTTP_201_CREATED)


class UploadDetailView(GenericAPIView):
    @extend_schema(responses={204: None})
    def delete(self, request, upload_id):
        """Take back one of your uploads that no message carries yet; 404 for any other
        (deleting a message deletes its files)."""
        uploads.upload_delete(uploader=request.user, upload_id=upload_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# Whatever a file holds, a browser that opens it runs nothing and loads nothing from it.
# (Django renders True as the bare directive; its stubs know only strings.)
_FILE_POLICY: dict = {"default-src": [CSP.NONE], "sandbox": True}


@method_decorator(csp_override(_FILE_POLICY), name="dispatch")
class UploadFileView(GenericAPIView):
    """An attachment's bytes, or its thumbnail's (`thumbnail=True`)."""

    thumbnail = False

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, upload_id):
        """The file, to its message's readers (before a message carries it, to its
        uploader); 404 to anyone else. Images are shown inline; anything else is a
        download (`Content-Disposition: attachment`), sent as `application/octet-stream`
        whatever its type, so that no browser runs it as this site's script or style."""
        upload = selectors.upload_for_download(user=request.user, upload_id=upload_id)
        if self.thumbnail and not upload.thumbnail:
            raise NotFound("This file has no thumbnail.")
        image = upload.content_type in uploads.IMAGE_TYPES
        name = upload.thumbnail if self.thumbnail else upload.file
        store = uploads.storage()
        try:
            file = store.open(name)
            size = upload.size if not self.thumbnail else store.size(name)
        except FileNotFoundError:
            raise NotFound("No such file.") from None  # deleted with its message just now
        if self.thumbnail:
            content_type = "image/webp"
        else:
            content_type = upload.content_type if image else uploads.OCTET_STREAM
        response = StreamingHttpResponse(_chunks(file), content_type=content_type)
        response["Content-Length"] = str(size)
        response["Content-Disposition"] = content_disposition_header(
            not image, f"{upload.name}.webp" if self.thumbnail else upload.name
        ) or ("attachment" if not image else "inline")
        response["X-Content-Type-Options"] = "nosniff"
        response["Cross-Origin-Resource-Policy"] = "same-origin"
        # Never changes at this address, but access may: a browser keeps it an hour.
        response["Cache-Control"] = "private, max-age=3600"
        return response


# A file is read a chunk at a time on a thread of its own and written to the socket as it
# comes: Django would read a sync iterator whole, into memory, on asgiref's one shared
# thread, before sending a byte (django.http.StreamingHttpResponse.__aiter__).
FILE_CHUNK_BYTES = 256 * 1024


async def _chunks(file) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(file.read, FILE_CHUNK_BYTES):
            yield chunk
    finally:
        await asyncio.to_thread(file.close)
