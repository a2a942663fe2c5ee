from slack_bolt.async_app import AsyncApp

from app.ids import Shortcut
from app.listeners.shortcuts.page_oncall import handle_page_oncall_shortcut
from app.listeners.shortcuts.thread_message import (
    handle_add_to_notes_shortcut,
    handle_escalate_shortcut,
)


def register(app: AsyncApp) -> None:
    app.shortcut(Shortcut.ESCALATE)(handle_escalate_shortcut)
    app.shortcut(Shortcut.ADD_NOTE)(handle_add_to_notes_shortcut)
    app.shortcut(Shortcut.PAGE_ONCALL)(handle_page_oncall_shortcut)
