"""What an endpoint of the paper exchange is: its handler, weight, whether it is signed, and
the parameters it reads (anything else is refused, as Binance does)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from binance_mcp.paper.params import Params

if TYPE_CHECKING:
    from binance_mcp.paper.state import PaperState

Handler = Callable[["PaperState", Params, int], Any]


@dataclass(frozen=True)
class Endpoint:
    handler: Handler
    weight: int | Callable[[Params], int]
    signed: bool
    params: frozenset[str]
    mutates: bool = False
    # How many new orders one call places: counted against the ORDERS limits and reported in
    # the X-MBX-ORDER-COUNT-* headers of its answer.
    orders: int = 0

    def weight_of(self, p: Params) -> int:
        return self.weight if isinstance(self.weight, int) else self.weight(p)


Routes = dict[tuple[str, str], Endpoint]
