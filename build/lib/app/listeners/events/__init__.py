from slack_bolt.async_app import AsyncApp

from app.ids import EventType
from app.listeners.events.app_mention import handle_app_mention


def register(app: AsyncApp) -> None:
    app.event(EventType.APP_MENTION)(handle_app_mention)
