"""Shapes only: types, required fields, lengths. Rules live in services."""

from rest_framework import serializers

from messaging_site.fields import TextField

from .models import Block, User


class RegisterInputSerializer(serializers.Serializer):
    username = TextField(max_length=150)
    password = TextField(max_length=128, write_only=True, trim_whitespace=False)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    name = TextField(max_length=100, required=False, allow_blank=True, default="")


class RegisterOutputSerializer(serializers.ModelSerializer):
    token = TextField(source="auth_token.key")

    class Meta:
        model = User
        fields = ["id", "username", "email", "name", "token"]


class TokenInputSerializer(serializers.Serializer):
    username = TextField(max_length=150)
    password = TextField(max_length=128, write_only=True, trim_whitespace=False)


class TokenOutputSerializer(serializers.Serializer):
    token = TextField(source="key")


class TokenInfoSerializer(serializers.Serializer):
    prefix = TextField(help_text="The key's first 8 characters.")
    created = serializers.DateTimeField()


class ErrorSerializer(serializers.Serializer):
    detail = TextField()
    code = TextField()


class MeSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "name"]


class PublicUserSerializer(serializers.ModelSerializer):
    """What anyone signed in may know of another user: never their email."""

    class Meta:
        model = User
        fields = ["id", "username", "name"]


class UserLookupQuerySerializer(serializers.Serializer):
    email = TextField(required=False, max_length=254)
    username = TextField(required=False, max_length=150)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                {"non_field_errors": ["Give email or username to look a user up."]}
            )
        return attrs


class BlockInputSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1)


class BlockSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="blocked_id")
    username = TextField(source="blocked.username")

    class Meta:
        model = Block
        fields = ["user_id", "username", "created_at"]
