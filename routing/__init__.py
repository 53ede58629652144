"""seethink question router: ``direct`` (look at the image) vs ``cascade`` (think about it).

Example::

    from routing import load_router
    router = load_router()                      # the trained classifier
    d = router.classify("这个包是真皮的吗?")      # RouteDecision(route="cascade", ...)

Importing this package is cheap: scikit-learn is only imported when a classifier is built.
"""

from routing import classifier as _classifier  # noqa: F401  (registers "classifier")
from routing import keywords as _keywords  # noqa: F401  (registers "keywords")
from routing.base import Router
from routing.decision import DOMAINS, ROUTES, Domain, Route, RouteDecision, RouteScore
from routing.registry import UnknownRouterError, available_routers, load_router, register

__all__ = [
    "DOMAINS",
    "ROUTES",
    "Domain",
    "Route",
    "RouteDecision",
    "RouteScore",
    "Router",
    "UnknownRouterError",
    "available_routers",
    "load_router",
    "register",
]
