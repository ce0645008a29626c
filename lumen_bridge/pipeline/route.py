"""Stage 1, route: which receivers an alert goes to (first match wins unless ``continue``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from lumen_bridge.config import RouteConfig, Settings
from lumen_bridge.matchers import matches_all


class Route:
    """A configured route with its windows resolved against the defaults."""

    def __init__(self, config: RouteConfig, settings: Settings) -> None:
        self.config = config
        self.receiver = settings.receiver(config.receiver)
        self.dedup_window: timedelta = config.dedup_window or settings.dedup.window
        self.reopen_window: timedelta = (
            config.reopen_window or settings.dedup.reopen_window or self.dedup_window
        )


class Router:
    """Matches label sets against the routes in order."""

    def __init__(self, settings: Settings) -> None:
        self.routes = [Route(config, settings) for config in settings.routes]

    def route(self, labels: Mapping[str, str]) -> Sequence[Route]:
        """The routes ``labels`` take, each receiver at most once."""
        chosen: list[Route] = []
        for route in self.routes:
            if matches_all(route.config.matchers, labels):
                if all(r.receiver.name != route.receiver.name for r in chosen):
                    chosen.append(route)
                if not route.config.continue_:
                    break
        return chosen
