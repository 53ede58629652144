"""Whether GPU shares fit the cards: the one bin packing the config check and the planner use.

Ray gives a fractional GPU request room on one card, never split across two, so fitting
replicas onto cards is bin packing, not a sum.
"""

from __future__ import annotations

UNITS = 10_000  # shares in 1/10000 of a card, so 0.3 + 0.3 + 0.4 == 1 exactly


def pack(cards: int, counts: dict[str, int], shares: dict[str, float]) -> list[dict[str, int]]:
    """Place replicas on cards, first-fit decreasing; [] when they do not all fit.

    Returns, per card, how many replicas of each node it holds.
    """
    units = {n: round(s * UNITS) for n, s in shares.items()}
    items = sorted(
        (n for n, c in counts.items() for _ in range(c)), key=lambda n: units[n], reverse=True
    )
    free = [UNITS] * cards
    layout: list[dict[str, int]] = [dict.fromkeys(counts, 0) for _ in range(cards)]
    for n in items:
        for card in range(cards):
            if units[n] <= free[card]:
                free[card] -= units[n]
                layout[card][n] += 1
                break
        else:
            return []
    return layout
