"""Deployment handles as the pipeline wants them: overload answered cleanly, replica death
retried once.

``ResilientHandle(h).method.remote(...)`` is awaitable like a ``DeploymentHandle`` call.
- A full queue downstream (Serve's ``BackPressureError``, from ``max_queued_requests``) becomes
  a 503/429 ``APIError`` with ``Retry-After``: the client is told to come back, fast.
- A replica that dies or becomes unreachable mid-call is retried once; Serve routes the retry
  to another replica, or waits for the restarted one, within the caller's deadline. The calls
  the graph makes are idempotent (captioning, answering, verifying, classifying), so nothing is
  answered twice. Adding a review case is not retried: a retry could store it twice.
"""

from __future__ import annotations

import asyncio
import logging

from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

from seethink.protocol import APIError

logger = logging.getLogger("ray.serve")

_RETRYABLE = (RayActorError, DeploymentUnavailableError)


def overloaded(node: str, e: BackPressureError) -> APIError:
    retry = max(1, int(e.retry_after_s or 1))
    return APIError(
        f"the {node} node is overloaded; retry after {retry} s",
        e.status_code,
        "overloaded",
        headers={"Retry-After": str(retry)},
    )


def on_this_loop(handle):
    """``handle`` as a replica should call with it: Serve's request router on the caller's event
    loop, and requests over Serve's gRPC transport rather than as Ray actor tasks.

    - By default (``RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP``, which ``seethink.edge.ENV`` keeps on
      for synchronous callers such as scripts and tests) every handle call is handed to a router
      loop on its own thread and its result handed back: two thread crossings per call. A
      replica calls from its own event loop, so its handles can route there.
    - A bound handle's options are made where the application is built (the driver), so Serve's
      throughput mode in the replicas' environment does not reach them; the transport is set
      here instead.

    Must run before the handle's first ``.remote()`` or ``.options()``; without a running loop
    (or on a test double) the handle is returned as it is.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return handle
    if getattr(handle, "is_initialized", True):
        return handle
    handle._init(_run_router_in_separate_loop=False)
    return handle.options(_by_reference=False)


def transport(handle) -> dict:
    """How a handle calls (for ``Ingress.stats``): its router's loop and its transport."""
    init, opts = getattr(handle, "init_options", None), getattr(handle, "handle_options", None)
    return {
        "router_on_own_thread": getattr(init, "_run_router_in_separate_loop", None),
        "grpc": None if opts is None else not opts._by_reference,
    }


class ResilientHandle:
    """Wraps one ``DeploymentHandle`` (configured once, in the ingress's ``__init__``)."""

    def __init__(self, handle, node: str, no_retry: tuple[str, ...] = ()):
        handle = on_this_loop(handle)
        self._handle, self._node, self._no_retry = handle, node, no_retry

    @property
    def transport(self) -> dict:
        return transport(self._handle)

    def options(self, **kwargs) -> ResilientHandle:
        return ResilientHandle(self._handle.options(**kwargs), self._node, self._no_retry)

    def __getattr__(self, method: str) -> _Method:
        return _Method(self, method)


class _Method:
    def __init__(self, owner: ResilientHandle, name: str):
        self._owner, self._name = owner, name

    def remote(self, *args, **kwargs):
        return self._call(args, kwargs)

    async def _call(self, args, kwargs):
        o = self._owner
        attempts = 1 if self._name in o._no_retry else 2
        for attempt in range(attempts):
            try:
                return await getattr(o._handle, self._name).remote(*args, **kwargs)
            except BackPressureError as e:
                raise overloaded(o._node, e) from None
            except _RETRYABLE as e:
                if attempt + 1 >= attempts:
                    raise APIError(
                        f"the {o._node} node is unavailable; retry shortly",
                        503,
                        "node_unavailable",
                        headers={"Retry-After": "1"},
                    ) from None
                logger.warning("%s.%s: replica lost (%s); retrying once",
                               o._node, self._name, type(e).__name__)  # fmt: skip
                await asyncio.sleep(0.05)
