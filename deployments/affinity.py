"""Serve's request router for the vision node: one image, one replica.

Each vision replica keeps the captions it made (``deployments/cache.py``). A call that names its
image (``image_sha256=...``: captions and re-checks) goes to the replica that owns that image
by rendezvous hashing (the replica with the highest hash of image and replica id), so:

- a repeated image finds its caption in the replica it asks, however many replicas there are
  (the hit rate does not split as the vision node scales out), and concurrent requests for one
  new image meet in one replica's single flight;
- a cascade's re-check lands where the image was just decoded and processed;
- when a replica comes or goes, only the images it owned move.

Load comes first: a call goes elsewhere (to the less loaded of two other replicas) when its
owner's queue is full or longer than the shortest other queue by more than ``imbalance``
requests. Calls without a key (the direct route's answers) are routed as Serve routes them by
default: the less loaded of two random replicas.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from ray.serve.request_router import PendingRequest, RequestRouter, RunningReplica

KEY = "image_sha256"


def owner_order(key: str, replica_ids: Sequence[str]) -> list[str]:
    """Replica ids, the owner of ``key`` first (rendezvous hashing: stable, and a replica that
    leaves hands only its own keys to the others)."""

    def weight(rid: str) -> bytes:
        return hashlib.blake2b(f"{key}|{rid}".encode(), digest_size=8).digest()

    return sorted(replica_ids, key=weight, reverse=True)


def _two(replicas: list[RunningReplica]) -> list[RunningReplica]:
    return random.sample(replicas, min(2, len(replicas)))


class ImageAffinityRouter(RequestRouter):
    """``choose_replicas``: the image's owner first, unless it is overloaded."""

    imbalance = 16  # Serve passes request_router_kwargs to initialize_state

    def initialize_state(self, imbalance: int = imbalance, **kwargs) -> None:
        self.imbalance = imbalance

    async def choose_replicas(
        self,
        candidate_replicas: list[RunningReplica],
        pending_request: PendingRequest | None = None,
    ) -> list[list[RunningReplica]]:
        if pending_request is not None:
            # every rank below is tried on each round: back off between rounds
            pending_request.routing_context.should_backoff = True
        key = None if pending_request is None else pending_request.kwargs.get(KEY)
        if not key or len(candidate_replicas) < 2:
            return [_two(candidate_replicas)]
        by_id = {r.replica_id.unique_id: r for r in candidate_replicas}
        order = owner_order(key, list(by_id))
        owner, others = by_id[order[0]], [by_id[i] for i in order[1:]]
        if self._overloaded(owner, others):
            return [_two(others), [owner]]
        return [[owner], _two(others)]

    def _overloaded(self, owner: RunningReplica, others: list[RunningReplica]) -> bool:
        """The owner's queue (as last probed) is longer than another's by over ``imbalance``."""
        cache = self.replica_queue_len_cache
        mine = cache.get(owner.replica_id)
        if mine is None:
            return False
        theirs = [q for q in (cache.get(r.replica_id) for r in others) if q is not None]
        return bool(theirs) and mine - min(theirs) > self.imbalance
