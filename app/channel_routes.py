"""CHANNEL_ROUTES_FILE: which Slack channel gets the card of a new incident.

default: C0INCIDENTS        # services without a route; omit it: no card
services:
  PSVC001: C0CHECKOUT       # PagerDuty service id -> Slack channel id
"""

from dataclasses import dataclass, field
from pathlib import Path

from app.settings import ConfigError, read_yaml_mapping


@dataclass(frozen=True)
class ChannelRoutes:
    default: str | None = None
    services: dict[str, str] = field(default_factory=dict)

    def channel_for(self, service_id: str | None) -> str | None:
        return self.services.get(service_id or "", self.default)


def load_channel_routes(path: Path | None) -> ChannelRoutes:
    if path is None:
        return ChannelRoutes()
    where = f"CHANNEL_ROUTES_FILE ({path})"
    document = read_yaml_mapping(path, "CHANNEL_ROUTES_FILE", "'default' and/or 'services'")
    default, services = document.get("default"), document.get("services") or {}
    problems = []
    if default is not None and not isinstance(default, str):
        problems.append(f"{where}: 'default' must be a Slack channel id")
    if not isinstance(services, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in services.items()
    ):
        problems.append(f"{where}: 'services' must map PagerDuty service ids to channel ids")
    if problems:
        raise ConfigError(problems)
    return ChannelRoutes(default, dict(services))
