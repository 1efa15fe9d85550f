from django.contrib.auth import views as auth_views
from django.urls import path

from . import campaigns, views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", views.signup, name="signup"),
    path("new/", views.conversation_new, name="conversation_new"),
    path("direct/", views.direct, name="direct"),
    path("rooms/", views.rooms, name="rooms"),
    path("c/<int:conversation_id>/", views.conversation, name="conversation"),
    path("c/<int:conversation_id>/send/", views.message_send, name="message_send"),
    path("c/<int:conversation_id>/join/", views.join, name="join"),
    path("c/<int:conversation_id>/leave/", views.leave, name="leave"),
    path("c/<int:conversation_id>/members/", views.member_add, name="member_add"),
    path(
        "c/<int:conversation_id>/members/<int:user_id>/<slug:action>/",
        views.member_action,
        name="member_action",
    ),
    path("blocks/", views.blocks, name="blocks"),
    path("blocks/<int:user_id>/unblock/", views.unblock, name="unblock"),
    path("boards/", views.boards, name="boards"),
    path("boards/<int:board_id>/", views.board, name="board"),
    path("campaigns/", campaigns.campaign_list, name="campaigns"),
    path("campaigns/new/", campaigns.campaign_new, name="campaign_new"),
    path("campaigns/<int:campaign_id>/", campaigns.campaign_detail, name="campaign"),
    path("campaigns/<int:campaign_id>/launch/", campaigns.campaign_launch, name="campaign_launch"),
    path("campaigns/<int:campaign_id>/cancel/", campaigns.campaign_cancel, name="campaign_cancel"),
    path(
        "campaigns/<int:campaign_id>/requeue/", campaigns.campaign_requeue, name="campaign_requeue"
    ),
]
