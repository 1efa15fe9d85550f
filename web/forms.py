"""Form fields only: lengths and states are checked by the services, the one authority."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.services import NAME_MAX_LENGTH, USERNAME_MAX_LENGTH
from boards.models import BOARD_NAME_MAX_LENGTH, DATA_MAX_LENGTH, TOPIC_MAX_LENGTH
from chat.services import MAX_NAME_LENGTH, MAX_TEXT_LENGTH


class LoginForm(AuthenticationForm):
    pass


class SignupForm(forms.Form):
    username = forms.CharField(
        max_length=USERNAME_MAX_LENGTH,
        widget=forms.TextInput(attrs={"autofocus": True}),
        help_text="Letters, digits and @ . + - _ only.",
    )
    name = forms.CharField(max_length=NAME_MAX_LENGTH, required=False, label="Display name")
    email = forms.EmailField(required=False, help_text="Optional.")
    password = forms.CharField(widget=forms.PasswordInput, strip=False)


class UsernameForm(forms.Form):
    username = forms.CharField(max_length=150)


class DirectMessageForm(UsernameForm):
    text = forms.CharField(
        label="Message", max_length=MAX_TEXT_LENGTH, widget=forms.Textarea(attrs={"rows": 3})
    )


class ConversationCreateForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[
            ("group", "Group: private, you add people"),
            ("room", "Room: public, anyone may ask to join"),
        ],
        widget=forms.RadioSelect,
        initial="group",
    )
    name = forms.CharField(max_length=MAX_NAME_LENGTH)
    members = forms.CharField(
        required=False,
        label="Add people",
        help_text="Usernames, separated by commas or spaces (groups only).",
    )


class BoardCreateForm(forms.Form):
    name = forms.CharField(max_length=BOARD_NAME_MAX_LENGTH, label="Board name")


class PostForm(forms.Form):
    topic = forms.CharField(label="Post under topic", max_length=TOPIC_MAX_LENGTH)
    # Django's form metaclass moves declared fields off the class, so this `data` does not
    # hide Form.data; the type checker cannot know.
    data = forms.CharField(  # type: ignore[assignment]
        label="Post", max_length=DATA_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3})
    )
