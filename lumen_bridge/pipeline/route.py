"""Stage 1, route: which receivers an alert goes to (first match wins unless ``continue``).

Every alert gets a case per receiver its labels route it to, each receiver at most once;
an alert no route takes is set aside: it counts as ``ignored`` (``unrouted``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lumen_bridge.config import RouteConfig, Settings
from lumen_bridge.domain.matchers import matches_all
from lumen_bridge.pipeline.batch import Batch, Case, Route

__all__ = ["RouteStage", "Router"]


class Router:
    """Matches label sets against the configured routes in order."""

    def __init__(self, settings: Settings) -> None:
        self._routes: list[tuple[RouteConfig, Route]] = [
            (config, _resolved(config, settings)) for config in settings.routes
        ]

    def trace(self, labels: Mapping[str, str]) -> list[dict[str, object]]:
        """Why ``labels`` take the routes they take: each route tried, in order, whether it
        matched (or the first matcher that did not) and whether the search went on."""
        tried: list[dict[str, object]] = []
        for index, (config, route) in enumerate(self._routes):
            failed = next((m for m in config.matchers if not m.matches(labels)), None)
            tried.append(
                {
                    "route": index,
                    "receiver": route.receiver.name,
                    "matchers": [str(m) for m in config.matchers],
                    "matched": failed is None,
                    "failed_matcher": None if failed is None else str(failed),
                    "continue": config.continue_,
                }
            )
            if failed is None and not config.continue_:
                break
        return tried

    def route(self, labels: Mapping[str, str]) -> Sequence[Route]:
        """The routes ``labels`` take, each receiver at most once."""
        chosen: list[Route] = []
        for config, route in self._routes:
            if matches_all(config.matchers, labels):
                if all(r.receiver.name != route.receiver.name for r in chosen):
                    chosen.append(route)
                if not config.continue_:
                    break
        return chosen

    def route_to(self, labels: Mapping[str, str], receiver: str) -> Route | None:
        """The route ``labels`` take to ``receiver`` today (None: they no longer go there)."""
        return next((r for r in self.route(labels) if r.receiver.name == receiver), None)


def _resolved(config: RouteConfig, settings: Settings) -> Route:
    dedup_window = config.dedup_window or settings.dedup.window
    return Route(
        receiver=settings.receiver(config.receiver),
        dedup_window=dedup_window,
        reopen_window=config.reopen_window or settings.dedup.reopen_window or dedup_window,
        escalation=tuple(config.escalation),
    )


class RouteStage:
    """Makes the batch's cases."""

    def __init__(self, router: Router) -> None:
        self.router = router

    def __call__(self, batch: Batch) -> None:
        """One case per alert and route, in the webhooks' order."""
        routed: dict[int, Sequence[Route]] = {}  # by alert: twins share their parsed payload
        cases = batch.cases
        for index, (payload, now) in enumerate(batch.received):
            for alert in payload.alerts:
                routes = routed.get(id(alert))
                if routes is None:
                    routes = routed[id(alert)] = self.router.route(alert.labels)
                if not routes:
                    batch.unrouted.append((index, alert, now))
                cases.extend(Case(index, alert, payload, now, route) for route in routes)
