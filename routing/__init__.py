"""seethink question router: ``direct`` (look at the image) vs ``cascade`` (think about it).

Example::

    from routing import load_router
    router = load_router()                      # the trained classifier
    d = router.classify("这个包是真皮的吗?")      # RouteDecision(route="cascade", ...)

    from routing import answer_domain
    answer_domain("这可能是湿疹，建议就医")     # ("medical", "medical: '湿疹', '就医'")

Importing this package is cheap: scikit-learn is only imported when a classifier is built.
"""

from routing import classifier as _classifier  # noqa: F401  (registers "classifier")
from routing import keywords as _keywords  # noqa: F401  (registers "keywords")
from routing.answer import answer_domain
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
    "answer_domain",
    "available_routers",
    "load_router",
    "register",
]
