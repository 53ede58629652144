"""Picking a port for a server this process starts (the batch command line, tests, benchmarks)."""

from __future__ import annotations

import random
import socket

# Between Ray's worker ports (10002-19999) and Serve's direct-ingress ports (30000-31000, where
# Ingress replicas bind; the kernel's ephemeral range, where Ray's own components bind, starts
# at 32768): a port picked there could be taken by Ray between this check and the bind.
PORT_RANGE = (20000, 29999)


class NoFreePort(RuntimeError):
    """No port in PORT_RANGE could be bound."""


def free_port(tries: int = 200) -> int:
    """A free loopback TCP port in PORT_RANGE."""
    for _ in range(tries):
        port = random.randint(*PORT_RANGE)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise NoFreePort(f"no free port in {PORT_RANGE[0]}-{PORT_RANGE[1]} after {tries} tries")
