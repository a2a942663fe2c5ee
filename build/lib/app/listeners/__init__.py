"""Slack entry points, one package per kind of request; each exposes `register(app)`."""

from slack_bolt.async_app import AsyncApp

from app.listeners import actions, commands, events, shortcuts, views


def register(app: AsyncApp) -> None:
    commands.register(app)
    actions.register(app)
    views.register(app)
    events.register(app)
    shortcuts.register(app)
