"""Settings resolved once at start from the environment and the command line.

Every rule that can reject a configuration lives here, so a bad setup fails before the server
speaks JSON-RPC, with one line that says what was wrong and what would be valid.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from pydantic import SecretStr

from binance_mcp.exchange.retry import DEFAULT_BUDGET, RetryPolicy
from binance_mcp.exchange.venues import HOSTED_VENUES, VENUES, Endpoints, Venue
from binance_mcp.guard.audit import DEFAULT_KEEP, DEFAULT_MAX_BYTES

log = logging.getLogger(__name__)

ENV_API_KEY: Final = "BINANCE_API_KEY"
ENV_API_SECRET: Final = "BINANCE_API_SECRET"
ENV_SECRET_KEY_ALIAS: Final = "BINANCE_SECRET_KEY"
ENV_VENUE: Final = "BINANCE_MCP_VENUE"
ENV_TESTNET: Final = "BINANCE_TESTNET"
ENV_DEMO: Final = "BINANCE_DEMO"
ENV_STATE_DIR: Final = "BINANCE_MCP_STATE_DIR"
ENV_POLICY: Final = "BINANCE_MCP_POLICY"
ENV_SPOT_URL: Final = "BINANCE_MCP_SPOT_URL"
ENV_FUTURES_URL: Final = "BINANCE_MCP_FUTURES_URL"
ENV_TIMEOUT: Final = "BINANCE_MCP_TIMEOUT"
ENV_APPROVAL_TIMEOUT: Final = "BINANCE_MCP_APPROVAL_TIMEOUT"
ENV_AUDIT_MAX_BYTES: Final = "BINANCE_MCP_AUDIT_MAX_BYTES"
ENV_AUDIT_KEEP: Final = "BINANCE_MCP_AUDIT_KEEP"
ENV_ALLOW_WITHDRAWAL_KEY: Final = "BINANCE_MCP_ALLOW_WITHDRAWAL_KEY"

TIMEOUT_RANGE: Final = (1.0, 300.0)
# How long a call that needs a person's approval waits for it, in seconds.
# Under the request timeout of common hosts (the MCP Inspector gives up after 60 s), so an
# unanswered approval ends as a clear denial rather than a call the host abandoned.
DEFAULT_APPROVAL_TIMEOUT: Final = 45.0
APPROVAL_TIMEOUT_RANGE: Final = (1.0, 3600.0)
# The audit log's size before it rotates, and how many rotated files are kept. Below 1 KiB a
# file would hold a line or two; the upper bound catches a typo'd extra digit or two.
AUDIT_MAX_BYTES_RANGE: Final = (1024, 1024**4)
AUDIT_KEEP_RANGE: Final = (1, 1000)
_SIZE: Final = re.compile(r"(\d+)\s*(?:([kmg])(?:i?b)?|b)?", re.IGNORECASE)
_SIZE_UNITS: Final = {"k": 1024, "m": 1024**2, "g": 1024**3}

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


class ConfigError(Exception):
    """A configuration the server refuses to start with. The message is a single line."""


def paper_state_dir(state_dir: Path) -> Path:
    """Where the paper account lives: `serve` and `paper` share it."""
    return state_dir / "paper"


@dataclass(frozen=True)
class Settings:
    """The resolved configuration. Keys are `SecretStr` and left out of repr, so logging or
    printing a `Settings` can never show them."""

    venue: Venue
    # Which input decided the venue; shown in logs and diagnostics so a surprise is traceable.
    venue_source: str
    state_dir: Path
    api_key: SecretStr | None = field(default=None, repr=False)
    api_secret: SecretStr | None = field(default=None, repr=False)
    policy_path: Path | None = None
    spot_url_override: str | None = None
    futures_url_override: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    approval_timeout: float = DEFAULT_APPROVAL_TIMEOUT
    audit_max_bytes: int = DEFAULT_MAX_BYTES
    audit_keep: int = DEFAULT_KEEP
    # Start even when the API key can withdraw (exchange/key_check.py refuses such a key).
    allow_withdrawal_key: bool = False
    # Shared guard state in Redis (guard/redis_state.py) instead of the state dir's SQLite; a
    # secret like the keys (it may hold a password).
    state_url: SecretStr | None = field(default=None, repr=False)
    state_timeout: float = 1.0

    @property
    def has_keys(self) -> bool:
        return self.api_key is not None and self.api_secret is not None

    @property
    def paper_in_process(self) -> bool:
        """True when the server must start its own paper exchange (no running one was named)."""
        return self.venue == "paper" and self.spot_url_override is None

    @property
    def paper_state_dir(self) -> Path:
        return paper_state_dir(self.state_dir)

    def fixed_endpoints(self) -> Endpoints | None:
        """The endpoints known without starting anything; None for an in-process paper venue,
        whose port is only known once it listens."""
        if self.paper_in_process:
            return None
        if self.venue == "paper":
            spot, futures = self.spot_url_override, self.futures_url_override
        else:
            hosts = HOSTED_VENUES[self.venue]
            spot = self.spot_url_override or hosts.spot_url
            futures = self.futures_url_override or hosts.futures_url
        assert spot is not None and futures is not None  # both required for paper, see resolve
        return Endpoints(self.venue, spot, futures, self.api_key, self.api_secret)


def resolve_settings(
    env: Mapping[str, str] | None = None,
    *,
    venue: str | None = None,
    policy: str | os.PathLike[str] | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    allow_withdrawal_key: bool = False,
    state_url: str | None = None,
) -> Settings:
    """Resolve settings from `env` (default: the process environment) and command-line values,
    which win over the environment. Raises `ConfigError` on anything inconsistent."""
    if env is None:
        env = os.environ
    api_key, api_secret = resolve_keys(env)
    has_keys = api_key is not None
    chosen_venue, venue_source = _resolve_venue(env, venue, has_keys)
    spot_url = _url(env, ENV_SPOT_URL)
    futures_url = _url(env, ENV_FUTURES_URL)
    if chosen_venue == "paper" and (spot_url is None) != (futures_url is None):
        raise ConfigError(
            f"venue paper with a running paper exchange needs both {ENV_SPOT_URL} and "
            f"{ENV_FUTURES_URL} (e.g. http://127.0.0.1:8800/api and http://127.0.0.1:8800/fapi); "
            "set neither to start one in-process"
        )
    _warn_unusual_path(ENV_SPOT_URL, spot_url, "/api", "/v3/time")
    _warn_unusual_path(ENV_FUTURES_URL, futures_url, "/fapi", "/v1/time")

    settings = Settings(
        venue=chosen_venue,
        venue_source=venue_source,
        state_dir=resolve_state_dir(env, state_dir),
        api_key=api_key,
        api_secret=api_secret,
        policy_path=resolve_policy_path(env, policy),
        spot_url_override=spot_url,
        futures_url_override=futures_url,
        retry=_retry_policy(env),
        approval_timeout=_seconds(env, ENV_APPROVAL_TIMEOUT, APPROVAL_TIMEOUT_RANGE)
        or DEFAULT_APPROVAL_TIMEOUT,
        audit_max_bytes=_size(env, ENV_AUDIT_MAX_BYTES) or DEFAULT_MAX_BYTES,
        audit_keep=_count(env, ENV_AUDIT_KEEP, AUDIT_KEEP_RANGE) or DEFAULT_KEEP,
        # The flag can only accept; a malformed variable is refused even when the flag is given.
        allow_withdrawal_key=_env_flag(env, ENV_ALLOW_WITHDRAWAL_KEY) or allow_withdrawal_key,
        state_url=resolve_state_url(env, state_url),
        state_timeout=_seconds(env, ENV_STATE_TIMEOUT, STATE_TIMEOUT_RANGE) or 1.0,
    )
    if not has_keys and not settings.paper_in_process:
        log.warning(
            "venue %s without API keys: market data works, account and trading tools will fail "
            "(set %s and %s)",
            chosen_venue,
            ENV_API_KEY,
            ENV_API_SECRET,
        )
    return settings


def resolve_keys(env: Mapping[str, str]) -> tuple[SecretStr | None, SecretStr | None]:
    """The API key pair from the environment, both or neither. Messages never include values."""
    key = _env_value(env, ENV_API_KEY)
    secret = _env_value(env, ENV_API_SECRET)
    alias = _env_value(env, ENV_SECRET_KEY_ALIAS)
    if secret is not None and alias is not None and secret != alias:
        raise ConfigError(
            f"{ENV_API_SECRET} and {ENV_SECRET_KEY_ALIAS} are both set and differ; "
            "they are the same setting, set only one"
        )
    secret = secret if secret is not None else alias
    if key is not None and secret is None:
        raise ConfigError(
            f"{ENV_API_KEY} is set but {ENV_API_SECRET} (or {ENV_SECRET_KEY_ALIAS}) is not; "
            "set both or neither"
        )
    if secret is not None and key is None:
        secret_name = ENV_API_SECRET if _env_value(env, ENV_API_SECRET) else ENV_SECRET_KEY_ALIAS
        raise ConfigError(f"{secret_name} is set but {ENV_API_KEY} is not; set both or neither")
    if key is None or secret is None:
        return None, None
    _check_key_chars(ENV_API_KEY, key)
    _check_key_chars(ENV_API_SECRET, secret)
    return SecretStr(key), SecretStr(secret)


def _env_value(env: Mapping[str, str], name: str) -> str | None:
    # MCP host configs often carry placeholders like "BINANCE_API_KEY": "", meaning "unset".
    value = env.get(name, "").strip()
    return value or None


def _check_key_chars(name: str, value: str) -> None:
    # A key with an embedded newline or a smart quote from a copy-paste fails later with a
    # baffling signature error; say so now, without echoing the value.
    if not all(33 <= ord(ch) <= 126 for ch in value):
        raise ConfigError(
            f"{name} contains whitespace or non-ASCII characters; paste the key exactly as "
            "Binance shows it"
        )


def _env_flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE or value == "":
        return False
    raise ConfigError(f"{name} must be true or false (got {env[name]!r})")


def _parse_venue(value: str, source: str) -> Venue:
    normalized = value.strip().lower()
    for venue in VENUES:
        if venue == normalized:
            return venue
    raise ConfigError(f"unknown venue {value!r} (from {source}); valid: {', '.join(VENUES)}")


def _resolve_venue(
    env: Mapping[str, str], cli_venue: str | None, has_keys: bool
) -> tuple[Venue, str]:
    # Parse the flags even when --venue wins, so a malformed value is reported, not ignored.
    testnet = _env_flag(env, ENV_TESTNET)
    demo = _env_flag(env, ENV_DEMO)
    if cli_venue is not None and cli_venue.strip():
        return _parse_venue(cli_venue, "--venue"), "--venue"
    if testnet and demo:
        raise ConfigError(
            f"{ENV_TESTNET} and {ENV_DEMO} are both true; set at most one "
            f"(or {ENV_VENUE}=testnet|demo)"
        )
    flagged: Venue | None = "testnet" if testnet else "demo" if demo else None
    env_venue = _env_value(env, ENV_VENUE)
    if env_venue is not None:
        venue = _parse_venue(env_venue, ENV_VENUE)
        if flagged is not None and flagged != venue:
            flag_name = ENV_TESTNET if flagged == "testnet" else ENV_DEMO
            # Silently preferring one would risk live trading for someone who meant testnet.
            raise ConfigError(
                f"{ENV_VENUE}={venue} contradicts {flag_name}=true; unset one of them"
            )
        return venue, ENV_VENUE
    if flagged is not None:
        return flagged, f"{ENV_TESTNET if flagged == 'testnet' else ENV_DEMO}=true"
    if has_keys:
        return "live", "default: API keys set, no venue chosen"
    return "paper", "default: no API keys"


def _url(env: Mapping[str, str], name: str) -> str | None:
    value = _env_value(env, name)
    if value is None:
        return None
    # python-binance runs str.format() over its base URLs, so braces would be mangled.
    if "{" in value or "}" in value:
        raise ConfigError(f"{name} must not contain '{{' or '}}' (got {value!r})")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{name} must be an http:// or https:// URL with a host, "
            f"e.g. http://127.0.0.1:8800/api (got {value!r})"
        )
    if parts.query or parts.fragment:
        raise ConfigError(
            f"{name} must not have a query or fragment; request paths are appended to it "
            f"(got {value!r})"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError on a port out of range or not a number
    except ValueError:
        raise ConfigError(f"{name} has an invalid port (got {value!r})") from None
    return value.rstrip("/")


def _seconds(env: Mapping[str, str], name: str, bounds: tuple[float, float]) -> float | None:
    raw = _env_value(env, name)
    if raw is None:
        return None
    low, high = bounds
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # also rejects nan and inf
        raise ConfigError(
            f"{name} must be a number of seconds from {low:g} to {high:g} (got {raw!r})"
        )
    return value


def _size(env: Mapping[str, str], name: str) -> int | None:
    raw = _env_value(env, name)
    if raw is None:
        return None
    low, high = AUDIT_MAX_BYTES_RANGE
    match = _SIZE.fullmatch(raw)
    value = -1
    # Length first: int() refuses (ValueError) beyond 4300 digits.
    if match and len(match.group(1)) <= 20:
        value = int(match.group(1)) * _SIZE_UNITS.get((match.group(2) or "").lower(), 1)
    if not low <= value <= high:
        raise ConfigError(
            f"{name} must be a size from 1 KiB to 1 TiB, in bytes or with K, M or G "
            f"(KiB, MiB, GiB), e.g. 10M (got {raw!r})"
        )
    return value


def _count(env: Mapping[str, str], name: str, bounds: tuple[int, int]) -> int | None:
    raw = _env_value(env, name)
    if raw is None:
        return None
    low, high = bounds
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 20 else -1
    if not low <= value <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high} (got {raw!r})")
    return value


def _retry_policy(env: Mapping[str, str]) -> RetryPolicy:
    timeout = _seconds(env, ENV_TIMEOUT, TIMEOUT_RANGE)
    if timeout is None:
        return RetryPolicy()
    return RetryPolicy(timeout=timeout, budget=max(DEFAULT_BUDGET, 3 * timeout))


def _warn_unusual_path(name: str, url: str | None, suffix: str, example: str) -> None:
    # python-binance appends "/v3/..." (spot) or "/v1/..." (futures) to these URLs, so one that
    # does not end in /api or /fapi usually points at the wrong place; a proxy may differ.
    if url is not None and not url.endswith(suffix):
        log.warning(
            "%s=%s does not end in %s; requests will go to e.g. %s%s",
            name,
            url,
            suffix,
            url,
            example,
        )


ENV_STATE_URL: Final = "BINANCE_MCP_STATE_URL"
ENV_STATE_TIMEOUT: Final = "BINANCE_MCP_STATE_TIMEOUT"
# Seconds a Redis command may take before the call that needs it is denied.
STATE_TIMEOUT_RANGE: Final = (0.05, 30.0)


def resolve_state_url(env: Mapping[str, str], cli_value: str | None) -> SecretStr | None:
    """`--state-url` or BINANCE_MCP_STATE_URL: redis:// or rediss:// (TLS). The URL is never
    echoed whole: it may carry a password."""
    value = cli_value if cli_value is not None else _env_value(env, ENV_STATE_URL)
    if not value:
        return None
    scheme = urlsplit(value).scheme
    if scheme not in ("redis", "rediss"):
        raise ConfigError(
            f"{ENV_STATE_URL} must be a redis:// or rediss:// URL "
            f"(redis://[user:password@]host:port/db), got a {scheme or 'schemeless'} URL"
        )
    try:
        urlsplit(value).port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ConfigError(f"{ENV_STATE_URL}: the port is not a number") from None
    return SecretStr(value)


def resolve_state_dir(
    env: Mapping[str, str], cli_value: str | os.PathLike[str] | None = None
) -> Path:
    """The state dir: `--state-dir`, else BINANCE_MCP_STATE_DIR, else the platform's user
    state dir. Not created here; whoever writes into it does that."""
    raw = os.fspath(cli_value) if cli_value is not None else ""
    source = "--state-dir"
    if not raw.strip():
        raw = _env_value(env, ENV_STATE_DIR) or ""
        source = ENV_STATE_DIR
    if not raw.strip():
        import platformdirs

        return Path(platformdirs.user_state_dir("binance-mcp"))
    path = Path(raw.strip()).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"state dir {path} (from {source}) exists and is not a directory")
    return path


def resolve_policy_path(
    env: Mapping[str, str], cli_value: str | os.PathLike[str] | None
) -> Path | None:
    raw = os.fspath(cli_value) if cli_value is not None else ""
    source = "--policy"
    if not raw.strip():
        raw = _env_value(env, ENV_POLICY) or ""
        source = ENV_POLICY
    if not raw.strip():
        return None
    path = Path(raw.strip()).expanduser().absolute()
    if not path.exists():
        raise ConfigError(f"policy file {path} (from {source}) does not exist")
    if not path.is_file():
        raise ConfigError(f"policy file {path} (from {source}) is not a regular file")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"policy file {path} (from {source}) cannot be read: {exc.strerror}"
        ) from None
    return path
