from django.urls import path

from messaging_site.throttling import LoginThrottle, RegisterThrottle, UserWriteThrottle, throttled

from . import campaigns, views

app_name = "web"

# The API's throttles, on the same keys (README, "Configuration"): a page is no way around
# them. Sign-up and sign-in count per address; every other write per signed-in user, as
# every REST write does. Reads are never counted.
signup = throttled(RegisterThrottle)
sign_in = throttled(LoginThrottle)
write = throttled(UserWriteThrottle)

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", sign_in(views.LoginView.as_view()), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("signup/", signup(views.signup), name="signup"),
    path("new/", write(views.conversation_new), name="conversation_new"),
    path("direct/", write(views.direct), name="direct"),
    path("rooms/", views.rooms, name="rooms"),
    path("search/", views.search_page, name="search"),
    path("c/<id:conversation_id>/", views.conversation, name="conversation"),
    path("c/<id:conversation_id>/send/", write(views.message_send), name="message_send"),
    path("c/<id:conversation_id>/join/", write(views.join), name="join"),
    path("c/<id:conversation_id>/leave/", write(views.leave), name="leave"),
    path("c/<id:conversation_id>/members/", write(views.member_add), name="member_add"),
    path(
        "c/<id:conversation_id>/members/<id:user_id>/<slug:action>/",
        write(views.member_action),
        name="member_action",
    ),
    path("account/", views.account, name="account"),
    path("account/tokens/<str:prefix>/revoke/", write(views.token_revoke), name="token_revoke"),
    path(
        "account/sign-out-everywhere/", write(views.sign_out_everywhere), name="sign_out_everywhere"
    ),
    path("blocks/", write(views.blocks), name="blocks"),
    path("blocks/<id:user_id>/unblock/", write(views.unblock), name="unblock"),
    path("boards/", write(views.boards), name="boards"),
    path("boards/<id:board_id>/", write(views.board), name="board"),
    path("campaigns/", campaigns.campaign_list, name="campaigns"),
    path("campaigns/new/", write(campaigns.campaign_new), name="campaign_new"),
    path("campaigns/<id:campaign_id>/", campaigns.campaign_detail, name="campaign"),
    path(
        "campaigns/<id:campaign_id>/launch/",
        write(campaigns.campaign_launch),
        name="campaign_launch",
    ),
    path(
        "campaigns/<id:campaign_id>/cancel/",
        write(campaigns.campaign_cancel),
        name="campaign_cancel",
    ),
    path(
        "campaigns/<id:campaign_id>/requeue/",
        write(campaigns.campaign_requeue),
        name="campaign_requeue",
    ),
]
