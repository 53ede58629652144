"""The vision node's request router (deployments/affinity.py): one image, one replica, unless
that replica is overloaded. Serve's own router class, driven with stand-in replicas."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from ray.serve._private.common import DeploymentHandleSource, DeploymentID, ReplicaID
from ray.serve._private.request_router.common import PendingRequest

from deployments.affinity import KEY, ImageAffinityRouter, owner_order

DEP = DeploymentID(name="Vision", app_name="seethink")


@dataclass
class Replica:
    """What ``choose_replicas`` reads of Serve's ``RunningReplica``."""

    name: str
    replica_id: ReplicaID = field(init=False)

    def __post_init__(self) -> None:
        self.replica_id = ReplicaID(self.name, DEP)


def _router(imbalance: int = 16) -> ImageAffinityRouter:
    r = ImageAffinityRouter(DEP, DeploymentHandleSource.REPLICA)
    r.initialize_state(imbalance=imbalance)
    return r


def _choose(router, replicas, **kwargs) -> tuple[list[list[Replica]], PendingRequest]:
    """Serve's ranks for one call with these keyword arguments, and the pending request."""

    async def choose():
        req = PendingRequest(args=[b"img"], kwargs=kwargs, metadata=None)
        return await router.choose_replicas(replicas, req), req

    return asyncio.run(choose())


def test_each_image_has_one_owner_and_owners_are_spread_evenly():
    ids = ["r1", "r2", "r3", "r4"]
    owners = Counter(owner_order(f"sha{i}", ids)[0] for i in range(4000))
    assert set(owners) == set(ids)
    assert all(800 < n < 1200 for n in owners.values()), owners
    # the same answer every time, whatever order the replicas are listed in
    assert all(owner_order(f"sha{i}", ids)[0] == owner_order(f"sha{i}", ids[::-1])[0]
               for i in range(200))  # fmt: skip


def test_a_replica_that_leaves_hands_over_only_its_own_images():
    ids = ["r1", "r2", "r3", "r4"]
    keys = [f"sha{i}" for i in range(2000)]
    before = {k: owner_order(k, ids)[0] for k in keys}
    after = {k: owner_order(k, ["r1", "r2", "r4"])[0] for k in keys}
    moved = {k for k in keys if before[k] != after[k]}
    assert moved == {k for k in keys if before[k] == "r3"}


def test_a_named_image_goes_to_its_owner_first_then_to_the_others():
    router, replicas = _router(), [Replica(f"r{i}") for i in range(4)]
    ranks, req = _choose(router, replicas, image_sha256="abc")
    owner = owner_order("abc", [r.name for r in replicas])[0]
    assert [r.name for r in ranks[0]] == [owner]
    assert len(ranks[1]) == 2 and owner not in {r.name for r in ranks[1]}
    assert req.routing_context.should_backoff  # every rank was offered: back off next round


def test_a_call_without_an_image_key_goes_to_the_less_loaded_of_two():
    router, replicas = _router(), [Replica(f"r{i}") for i in range(4)]
    seen = set()
    for _ in range(50):
        (rank,), _ = _choose(router, replicas)
        assert len(rank) == 2
        seen |= {r.name for r in rank}
    assert seen == {r.name for r in replicas}  # random, not pinned


def test_an_overloaded_owner_is_tried_last():
    router, replicas = _router(imbalance=4), [Replica(f"r{i}") for i in range(3)]
    key = "def"
    owner = next(r for r in replicas if r.name == owner_order(key, ["r0", "r1", "r2"])[0])
    for r in replicas:
        router.replica_queue_len_cache.update(r.replica_id, 5)
    router.replica_queue_len_cache.update(owner.replica_id, 9)  # 4 more: within the bound
    assert _choose(router, replicas, **{KEY: key})[0][0] == [owner]
    router.replica_queue_len_cache.update(owner.replica_id, 10)  # 5 more: overloaded
    ranks, _ = _choose(router, replicas, **{KEY: key})
    assert owner not in ranks[0] and ranks[-1] == [owner]


def test_one_replica_takes_everything():
    router, only = _router(), [Replica("r0")]
    assert _choose(router, only, **{KEY: "x"})[0] == [only]
