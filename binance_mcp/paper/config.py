"""How a paper exchange is set up: address, keys, state dir, starting balances, limits."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import SecretStr

DEFAULT_SPOT_BALANCES: dict[str, Decimal] = {
    "USDT": Decimal("10000"),
    "BTC": Decimal("0.5"),
    "ETH": Decimal("5"),
}
DEFAULT_FUTURES_BALANCES: dict[str, Decimal] = {"USDT": Decimal("10000")}


@dataclass
class PaperConfig:
    """How a paper exchange is set up. Keys are generated when not given."""

    host: str = "127.0.0.1"
    port: int = 0
    api_key: str = field(default_factory=lambda: secrets.token_hex(32))
    api_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    state_dir: Path | None = None
    seed: int = 7
    # Seconds per random-walk step; 0 means the price only moves when told to (tests).
    walk_interval: float = 1.0
    spot_balances: dict[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_SPOT_BALANCES))
    futures_balances: dict[str, Decimal] = field(
        default_factory=lambda: dict(DEFAULT_FUTURES_BALANCES)
    )
    weight_limit: int = 6000
    # Multiplies Binance's rate limits (request weight and new orders); None lifts them
    # (`binance-mcp paper --limits off`, for benchmarks). Counts and headers are kept either way.
    limit_scale: float | None = 1.0
    reset: bool = False
    # How far the exchange's clock runs ahead of this machine's (ms; negative: behind). Tests
    # may change `PaperState.clock_offset_ms` while the exchange runs.
    clock_offset_ms: int = 0
    # What GET /sapi/v1/account/apiRestrictions reports of the paper keys, over defaults that
    # cannot withdraw (spot_routes.py); tests set e.g. {"enableWithdrawals": True} to see how
    # binance-mcp treats such a key.
    api_restrictions: dict[str, Any] | None = None

    def use_keys(self, key: SecretStr | None, secret: SecretStr | None) -> None:
        """The user's keys (BINANCE_API_KEY/SECRET) when both are set; else the generated ones."""
        if key is not None and secret is not None:
            self.api_key = key.get_secret_value()
            self.api_secret = secret.get_secret_value()
