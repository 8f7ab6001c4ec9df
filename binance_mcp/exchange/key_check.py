"""The API key itself: its permissions as Binance reports them (`GET
/sapi/v1/account/apiRestrictions`, USER_DATA, weight 1), read once when the server starts on a
hosted venue, and what binance-mcp makes of them.

- A key that can withdraw stops the server, unless the user accepted it explicitly: the server
  never withdraws, so such a key only adds what a stolen copy could do.
- A key usable from any IP, or with rights the policy never lets the agent use, is warned about.
- A key whose permissions cannot be read (no answer, an error, a venue without /sapi) is
  warned about too, and the server starts: the check protects, it does not gate the venue.

`judge` is pure, so every message is tested without an exchange. No message names the key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from binance_mcp.exchange.client import Exchange
from binance_mcp.exchange.errors import ToolFailure
from binance_mcp.exchange.venues import HOSTED_VENUES

log = logging.getLogger(__name__)

# The whole check, the clock reading before it included. It runs before the server answers
# the handshake, so a venue that is slow to answer must not hold that up for long.
KEY_CHECK_TIMEOUT: Final = 10.0

# Rights binance-mcp has no tool for: a key that has them can do more than any policy allows.
_NEVER_USED: Final = (
    ("enableMargin", "margin loans"),
    ("enableInternalTransfer", "internal transfer"),
    ("permitsUniversalTransfer", "universal transfer"),
    ("enableVanillaOptions", "options"),
)


class KeyRefused(Exception):
    """The key may not be used (it can withdraw, and that was not accepted). The message is a
    single line, for stderr."""


@dataclass(frozen=True)
class KeyPermissions:
    ip_restricted: bool
    withdrawals: bool
    reading: bool
    spot_trading: bool
    futures: bool
    # The rights of `_NEVER_USED` that the key has, as named there.
    unused: tuple[str, ...] = ()
    created_ms: int | None = None

    @classmethod
    def parse(cls, answer: Any) -> KeyPermissions:
        """Binance's answer; ValueError when it is not one. The two fields the verdict turns
        on must be booleans: an answer without them proves nothing either way."""
        if not isinstance(answer, Mapping):
            raise ValueError("the answer is not a JSON object")
        for name in ("enableWithdrawals", "ipRestrict"):
            if not isinstance(answer.get(name), bool):
                raise ValueError(f"the answer has no boolean {name}")
        created = answer.get("createTime")
        return cls(
            ip_restricted=answer["ipRestrict"],
            withdrawals=answer["enableWithdrawals"],
            reading=answer.get("enableReading") is True,
            spot_trading=answer.get("enableSpotAndMarginTrading") is True,
            futures=answer.get("enableFutures") is True,
            unused=tuple(label for field, label in _NEVER_USED if answer.get(field) is True),
            created_ms=created if isinstance(created, int) else None,
        )


@dataclass(frozen=True)
class KeyVerdict:
    """`fatal`: why the server must not start with this key, or None. `warnings`: one line
    each, for stderr and `binance_account_status`."""

    fatal: str | None = None
    warnings: tuple[str, ...] = ()


def judge(
    permissions: KeyPermissions,
    *,
    trades_spot: bool,
    trades_futures: bool,
    allow_withdrawal: bool = False,
) -> KeyVerdict:
    """What to make of a key with `permissions` under a policy that lets the agent trade spot
    (`trades_spot`) and futures (`trades_futures`); `allow_withdrawal`: the user accepted a
    key that can withdraw."""
    fatal = None
    warnings: list[str] = []
    if permissions.withdrawals:
        if allow_withdrawal:
            warnings.append(
                "the API key can withdraw funds (Enable Withdrawals), accepted by "
                "--allow-withdrawal-key: binance-mcp never withdraws; turn it off on Binance's "
                "API management page"
            )
        else:
            fatal = (
                "the API key can withdraw funds (Enable Withdrawals is on) and binance-mcp "
                "never withdraws: turn withdrawals off for this key on Binance's API management "
                "page, or start with --allow-withdrawal-key (BINANCE_MCP_ALLOW_WITHDRAWAL_KEY=1) "
                "to accept it"
            )
    if not permissions.ip_restricted:
        warnings.append(
            "the API key is not restricted to trusted IPs: a copy of it works from anywhere; "
            "restrict it on Binance's API management page"
        )
    if permissions.spot_trading and not trades_spot:
        warnings.append(
            "the API key can trade spot (Enable Spot & Margin Trading) but the policy allows "
            "no spot trading tool; turn that permission off"
        )
    if permissions.futures and not trades_futures:
        warnings.append(
            "the API key can trade futures (Enable Futures) but the policy allows no futures "
            "trading tool; turn that permission off unless the agent reads the futures account"
        )
    if permissions.unused:
        warnings.append(
            f"the API key has rights binance-mcp never uses ({', '.join(permissions.unused)}); "
            "turn them off"
        )
    return KeyVerdict(fatal, tuple(warnings))


def unchecked(why: str) -> KeyVerdict:
    return KeyVerdict(warnings=(f"the API key's permissions could not be checked: {why}",))


async def read_permissions(ex: Exchange) -> KeyPermissions:
    """The key's permissions, asked once: at start a venue that does not answer is reported
    at once rather than retried while the handshake waits. ToolFailure when the venue does not
    answer them, ValueError when its answer is not Binance's."""
    once = Exchange(ex.endpoints, ex.client, policy=replace(ex.policy, attempts=1))
    return KeyPermissions.parse(await once.read("get_account_api_permissions"))


async def check_key(
    ex: Exchange,
    *,
    trades_spot: bool,
    trades_futures: bool,
    allow_withdrawal: bool = False,
) -> KeyVerdict:
    """Read the key's permissions on `ex`'s venue and judge them; the warnings are logged
    here, a fatal verdict is for the caller to act on. Never raises for a venue that cannot
    answer: that is a warning."""
    if ex.venue == "testnet" and ex.endpoints.spot_url == HOSTED_VENUES["testnet"].spot_url:
        # The spot testnet serves /api only: asking would cost a request and answer 404.
        verdict = unchecked("the spot testnet does not report them (it has no /sapi endpoints)")
        log.info("%s", verdict.warnings[0])
        return verdict
    try:
        async with asyncio.timeout(KEY_CHECK_TIMEOUT):
            permissions = await read_permissions(ex)
    except TimeoutError:
        verdict = unchecked(f"the {ex.venue} venue did not answer within {KEY_CHECK_TIMEOUT:g} s")
    except (ToolFailure, ValueError) as exc:
        # ToolFailure texts are built from parsed fields and redacted (binance_api.py).
        verdict = unchecked(str(exc))
    else:
        verdict = judge(
            permissions,
            trades_spot=trades_spot,
            trades_futures=trades_futures,
            allow_withdrawal=allow_withdrawal,
        )
    for warning in verdict.warnings:
        log.warning("%s", warning)
    return verdict
