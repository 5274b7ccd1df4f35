"""The navigation of an app's pages, in the order the layout shows it. The first entry the
viewer's role allows is where the app switcher leads."""

from __future__ import annotations

from dataclasses import dataclass

from domain.users.store import Role


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str  # after /panel/apps/{app_key}/
    role: Role  # the least role that sees it


NAV: tuple[NavItem, ...] = (
    NavItem("Dashboard", "dashboard", "support"),
    NavItem("Logs", "logs", "support"),
    NavItem("Devices", "device", "support"),
    NavItem("Unfinished", "unfinished", "support"),
    NavItem("Automations", "automations", "support"),
    NavItem("Events", "events", "support"),
    NavItem("Campaigns", "campaigns", "support"),
    NavItem("Test push", "test-push", "developer"),
    NavItem("Webhooks", "webhooks", "support"),
    NavItem("API keys", "settings/keys", "support"),
    NavItem("Credentials", "settings/credentials", "support"),
    NavItem("Limits", "settings/limits", "support"),
    NavItem("Users", "settings/users", "support"),
)
