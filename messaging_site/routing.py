"""The WebSocket's urls.py: every client action and every channel-layer event the one
consumer serves, the function that serves it, and the state each app keeps per socket.
The frames themselves are in docs/PROTOCOL.md.

Nothing registers itself: an action that is not in this table does not exist, and
adding one means adding a line here.
"""

from django.urls import path

from boards import ws as boards
from campaigns import ws as campaigns
from chat import relay as chat_relay
from chat import ws as chat

from .consumers import Action, Consumer, SocketRoutes, close_session, ping

routes = SocketRoutes(
    # Opened in this order when a socket connects (chat joins the user's conversations).
    states=(
        chat_relay.ChatState,
        chat_relay.PresenceState,
        boards.Subscriptions,
        campaigns.Watches,
    ),
    actions={
        "ping": Action(ping),
        # Rooms (the Group Chat design)
        "createRoom": Action(chat.create_room, throttled=True),
        "joinRoom": Action(chat.join_room, throttled=True),
        "enterRoom": Action(chat.enter_room),
        "getMembers": Action(chat.get_members),
        # Messages in any conversation (the Chat App design)
        "sendMessage": Action(chat.send_message, throttled=True),
        "sendDirect": Action(chat.send_direct, throttled=True),
        "editMessage": Action(chat.edit_message, throttled=True),
        "deleteMessage": Action(chat.delete_message, throttled=True),
        "react": Action(chat.react, throttled=True),
        "unreact": Action(chat.unreact, throttled=True),
        "delivered": Action(chat.delivered),
        "read": Action(chat.read),
        "sync": Action(chat.sync),
        "typing": Action(chat.typing),
        "presence": Action(chat.report_presence, throttled=True),
        # Boards (the Message Board design)
        "subscribe": Action(boards.subscribe),
        "unsubscribe": Action(boards.unsubscribe),
        # Campaigns, for holders of campaigns.send_sms
        "watchCampaign": Action(campaigns.watch_campaign),
    },
    relays={
        "session.close": close_session,
        "chat.message": chat_relay.relay_message,
        "chat.frame": chat_relay.relay_frame,
        "chat.reaction": chat_relay.relay_reaction,
        "chat.typing": chat_relay.relay_typing,
        "chat.presence": chat_relay.relay_presence,
        "chat.user_frame": chat_relay.relay_user_frame,
        "chat.membership": chat_relay.relay_membership,
        "chat.revoke": chat_relay.relay_revoke,
        "accounts.block": chat_relay.relay_block,
        "board.message": boards.relay_post,
        "campaign.progress": campaigns.relay_progress,
    },
)

websocket_urlpatterns = [path("ws/", Consumer.as_asgi(routes=routes))]
