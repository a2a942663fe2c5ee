from slack_bolt.async_app import AsyncApp

from app.ids import Command
from app.listeners.commands.incident import handle_incident_command


def register(app: AsyncApp) -> None:
    app.command(Command.INCIDENT)(handle_incident_command)
