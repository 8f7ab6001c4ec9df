"""The server process's long-lived heap, kept out of the cyclic garbage collector's way.

`binance-mcp serve` freezes what start-up built (`gc.freeze()`): it lives as long as the
process, and a full collection would otherwise walk all of it again and again, stopping the
event loop for tens of milliseconds each time. Much of what lives that long is built later, at
the first call that needs it: python-binance, aiohttp and their imports with the venue's client
(~40 MiB), and each tool's models and schemas. `grown()` freezes again once such a build is
done. Frozen objects are still freed when nothing refers to them; only the few cycles that are
garbage at that moment stay.

In-process users (tests, benchmarks) never called `freeze()`, and `grown()` leaves their heap
alone.
"""

from __future__ import annotations

import gc

_frozen = False


def freeze() -> None:
    """Freeze everything alive now, and again after each lazy build (`grown`)."""
    global _frozen
    gc.freeze()
    _frozen = True


def grown() -> None:
    """A build whose result lives as long as the process has just finished."""
    if _frozen:
        gc.freeze()
