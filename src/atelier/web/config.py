"""The dashboard's configuration section, defined in `atelier.web_config` (see there why)."""

from atelier.web_config import DEFAULT_PUSH_HOSTS, WebConfig

__all__ = ["DEFAULT_PUSH_HOSTS", "WebConfig"]
