from typing import cast

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging_site.throttling import RegisterThrottle, TokenThrottle

from . import selectors, services
from .models import User
from .serializers import (
    BlockInputSerializer,
    BlockSerializer,
    ErrorSerializer,
    MeSerializer,
    PublicUserSerializer,
    RegisterInputSerializer,
    RegisterOutputSerializer,
    TokenInfoSerializer,
    TokenInputSerializer,
    TokenOutputSerializer,
    UserLookupQuerySerializer,
)
from .tokens import tokens_of


class RegisterView(APIView):
    """Create an account; the answer carries the API token."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [RegisterThrottle]

    @extend_schema(
        request=RegisterInputSerializer,
        responses={201: RegisterOutputSerializer},
        examples=[
            OpenApiExample(
                "Sign up",
                value={
                    "username": "alice",
                    "password": "correct-horse-battery-staple",
                    "email": "alice@example.com",
                    "name": "Alice",
                },
                request_only=True,
            ),
        ],
    )
    def post(self, request):
        data = RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        return Response(RegisterOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenView(APIView):
    """Exchange a username and password for the API token."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenThrottle]

    @extend_schema(
        request=TokenInputSerializer,
        responses={200: TokenOutputSerializer},
        examples=[
            OpenApiExample(
                "Sign in",
                value={"username": "alice", "password": "correct-horse-battery-staple"},
                request_only=True,
            ),
            OpenApiExample(
                "The token",
                value={"token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"},
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        data = TokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = services.token_for_credentials(**data.validated_data)
        return Response(TokenOutputSerializer(token).data)


class UserViewSet(viewsets.GenericViewSet):
    serializer_class = PublicUserSerializer
    lookup_value_regex = r"\d+"

    @extend_schema(
        parameters=[
            OpenApiParameter("email", str, description="exact, case-insensitive"),
            OpenApiParameter("username", str, description="exact, case-insensitive"),
        ],
        responses=PublicUserSerializer(many=True),
    )
    def list(self, request):
        """Find users by email or username. Another user's email is never shown."""
        query = UserLookupQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = self.paginate_queryset(selectors.user_lookup(**query.validated_data))
        return self.get_paginated_response(PublicUserSerializer(page, many=True).data)

    def retrieve(self, request, pk):
        return Response(PublicUserSerializer(selectors.user_get(user_id=int(pk))).data)

    @extend_schema(responses=MeSerializer)
    @action(detail=False)
    def me(self, request):
        """The caller, with their own email."""
        return Response(MeSerializer(request.user).data)


class BlockViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Users the caller blocks. Blocking stops direct messages both ways and hides the
    blocked user's messages from the blocker everywhere else."""

    serializer_class = BlockSerializer
    lookup_field = "user_id"
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        # IsAuthenticated (the default permission) has let only a signed-in user here.
        return selectors.blocks_made_by(user=cast(User, self.request.user))

    @extend_schema(
        request=BlockInputSerializer, responses={200: BlockSerializer, 201: BlockSerializer}
    )
    def create(self, request):
        data = BlockInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        block, created = services.block_create(
            blocker=request.user, blocked_id=data.validated_data["user_id"]
        )
        return Response(
            BlockSerializer(block).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def destroy(self, request, user_id):
        services.block_delete(blocker=request.user, blocked_id=int(user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenListView(APIView):
    """The caller's API tokens, by prefix: the key itself is shown once, when made."""

    @extend_schema(responses=TokenInfoSerializer(many=True))
    def get(self, request):
        return Response({"results": TokenInfoSerializer(tokens_of(request.user), many=True).data})


class TokenDetailView(APIView):
    @extend_schema(responses={204: None, 404: ErrorSerializer})
    def delete(self, request, prefix):
        """Revoke a token: it stops working at once and the sockets it opened close."""
        services.token_revoke(user=request.user, prefix=prefix)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SignOutEverywhereView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        """End every session of the caller (every browser), revoke the API token and close
        every socket."""
        services.sign_out_everywhere(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
