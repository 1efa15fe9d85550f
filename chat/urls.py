from django.urls import path

from . import views

conversation = "conversations/<id:conversation_id>/"
member = conversation + "members/<id:user_id>/"
message = conversation + "messages/<id:message_id>/"

urlpatterns = [
    path("conversations/", views.ConversationListView.as_view(), name="conversation-list"),
    path(conversation, views.ConversationDetailView.as_view(), name="conversation-detail"),
    path(conversation + "members/", views.MemberListView.as_view(), name="member-list"),
    path(member, views.MemberDetailView.as_view(), name="member-detail"),
    path(
        member + "approve/",
        views.MemberDecisionView.as_view(decision="approve"),
        name="member-approve",
    ),
    path(
        member + "reject/",
        views.MemberDecisionView.as_view(decision="reject"),
        name="member-reject",
    ),
    path(member + "ban/", views.MemberDecisionView.as_view(decision="ban"), name="member-ban"),
    path(member + "role/", views.MemberRoleView.as_view(), name="member-role"),
    path(conversation + "join/", views.JoinView.as_view(), name="conversation-join"),
    path(conversation + "messages/", views.MessageListView.as_view(), name="message-list"),
    path(message, views.MessageDetailView.as_view(), name="message-detail"),
    path(message + "edits/", views.MessageEditsView.as_view(), name="message-edits"),
    path(message + "reactions/", views.ReactionListView.as_view(), name="reaction-list"),
    path(
        message + "reactions/<str:emoji>/",
        views.ReactionDetailView.as_view(),
        name="reaction-detail",
    ),
    path(conversation + "read/", views.ReadView.as_view(), name="conversation-read"),
    path("direct/", views.DirectMessageView.as_view(), name="direct-message"),
    path("inbox/", views.InboxView.as_view(), name="inbox"),
    path("mentions/", views.MentionListView.as_view(), name="mention-list"),
    path("rooms/", views.RoomListView.as_view(), name="room-list"),
    path("search/", views.SearchView.as_view(), name="search"),
    path("presence/", views.PresenceView.as_view(), name="presence"),
    path("uploads/", views.UploadListView.as_view(), name="upload-list"),
    path("uploads/<id:upload_id>/", views.UploadDetailView.as_view(), name="upload-detail"),
    path("uploads/<id:upload_id>/file/", views.UploadFileView.as_view(), name="upload-file"),
    path(
        "uploads/<id:upload_id>/thumbnail/",
        views.UploadFileView.as_view(thumbnail=True),
        name="upload-thumbnail",
    ),
]
