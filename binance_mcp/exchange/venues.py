"""Which hosts each venue talks to, and the resolved endpoints a client is built from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from pydantic import SecretStr

Venue = Literal["live", "testnet", "demo", "paper"]
VENUES: Final[tuple[Venue, ...]] = ("live", "testnet", "demo", "paper")


@dataclass(frozen=True)
class VenueHosts:
    spot_url: str
    futures_url: str


# Spot and futures always switch together: a testnet key sent to a live host (or the reverse)
# is the classic way to trade the wrong account. Paper has no fixed hosts; its URLs are those
# of the paper exchange that is running.
HOSTED_VENUES: Final[dict[Venue, VenueHosts]] = {
    "live": VenueHosts("https://api.binance.com/api", "https://fapi.binance.com/fapi"),
    "testnet": VenueHosts(
        "https://testnet.binance.vision/api", "https://testnet.binancefuture.com/fapi"
    ),
    "demo": VenueHosts("https://demo-api.binance.com/api", "https://demo-fapi.binance.com/fapi"),
}


@dataclass(frozen=True)
class Endpoints:
    """Everything needed to build an exchange client for one venue. Keys stay out of repr."""

    venue: Venue
    spot_url: str
    futures_url: str
    api_key: SecretStr | None = field(default=None, repr=False)
    api_secret: SecretStr | None = field(default=None, repr=False)

    @property
    def has_keys(self) -> bool:
        return self.api_key is not None and self.api_secret is not None
