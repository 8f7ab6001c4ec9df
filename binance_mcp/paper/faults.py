"""Faults a test can arm: the next N requests to a path fail with a status, stall for a delay,
or are carried out and then lose their response (the case that doubles orders).

A 429 or 418 status answers as Binance does (-1003, `Retry-After`); a 418 also bans the host
for `retry_after` seconds (default 120), as Binance's IP bans do."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["status", "delay", "drop"]


@dataclass
class Fault:
    path: str
    kind: FaultKind
    count: int = 1
    method: str | None = None
    status: int = 503
    delay: float = 0.0
    # Seconds for the Retry-After header of a status fault (429 and 418 always carry one).
    retry_after: int | None = None
    # The Binance error of a status fault other than 429/418 (default -1001, internal error),
    # e.g. -2013 to make a lookup miss an order that exists.
    code: int | None = None
    msg: str | None = None


class FaultPlan:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def arm(self, fault: Fault) -> None:
        if fault.kind not in ("status", "delay", "drop"):
            raise ValueError(f"unknown fault kind {fault.kind!r}; use status, delay or drop")
        if fault.count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first armed fault matching this request, used up by one."""
        with self._lock:
            for fault in self._faults:
                if fault.path == path and fault.method in (None, method):
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return fault
        return None
