"""CHANNEL_ROUTES_FILE: which Slack channel gets the card of a new incident.

    default: C0INCIDENTS        # services without a route; omit it: no card
    services:
      PSVC001: C0CHECKOUT       # PagerDuty service id -> Slack channel id
"""

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from app.settings import ConfigError


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
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError([f"{where} cannot be read: {error}"]) from None
    if not isinstance(document, dict):
        raise ConfigError([f"{where} must be a mapping with 'default' and/or 'services'"])
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
