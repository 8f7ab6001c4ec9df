"""The MCP server over streamable HTTP: the same `BinanceServer` as over stdio (one guard, one
runtime, one audit log for every client), served by the SDK's own streamable HTTP app.

What this module adds around the SDK:

- a bearer token on every request (the SDK's bearer middleware with a verifier that knows one
  token): from `BINANCE_MCP_HTTP_TOKEN`, else generated once into `<state dir>/http-token`
  (mode 0600) and reused. A missing or wrong token gets 401 and nothing else;
- Host and Origin validation (the SDK's DNS-rebinding protection) for loopback names and the
  hosts the user names, so a web page in the user's browser cannot reach the server;
- a loopback bind unless `--allow-remote`, and a remote bind only with a token the user chose;
- request bodies bounded as stdio lines are (server/intake.py): too large → 413, nested too
  deep → 400 with a JSON-RPC parse error; never a request that hangs or is dropped unanswered.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import secrets
import signal
import stat
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Final

from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette

from binance_mcp.config import ConfigError
from binance_mcp.server.intake import MAX_LINE

log = logging.getLogger(__name__)

ENV_HTTP_TOKEN: Final = "BINANCE_MCP_HTTP_TOKEN"
TOKEN_FILE: Final = "http-token"
MCP_PATH: Final = "/mcp"
# Shorter than this a token could be guessed over the network; the generated one has 43 chars.
MIN_TOKEN_LENGTH: Final = 16
_LOOPBACK_NAMES: Final = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class HttpOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    allow_remote: bool = False
    # Extra names the server may be reached by (Host header, and Origin of browser clients).
    allowed_hosts: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    # Where it was read from or written to; None when it came from the environment.
    path: Path | None = None
    generated: bool = False


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(options: HttpOptions, env: Mapping[str, str]) -> None:
    """A non-loopback address only with --allow-remote and a token the user chose: a token
    generated into a state dir would be one nobody else knows, and one a remote client could
    only have been handed by copying a file."""
    if is_loopback(options.host):
        return
    if not options.allow_remote:
        raise ConfigError(
            f"--host {options.host} is not a loopback address; the server would be reachable "
            "from other machines. Add --allow-remote to mean it (and set "
            f"{ENV_HTTP_TOKEN})"
        )
    if not env.get(ENV_HTTP_TOKEN, "").strip():
        raise ConfigError(
            f"--host {options.host} with --allow-remote needs a token: set {ENV_HTTP_TOKEN} "
            f"(at least {MIN_TOKEN_LENGTH} characters)"
        )


def resolve_token(env: Mapping[str, str], state_dir: Path) -> Token:
    """The bearer token: BINANCE_MCP_HTTP_TOKEN, else `<state dir>/http-token`, created once
    (mode 0600, never widened) with a fresh random token."""
    given = env.get(ENV_HTTP_TOKEN, "").strip()
    if given:
        _check_token(given, ENV_HTTP_TOKEN)
        return Token(given)
    path = state_dir / TOKEN_FILE
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_token(path)
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc.strerror or exc}") from None
    value = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return Token(value, path, generated=True)


def _read_token(path: Path) -> Token:
    try:
        mode = path.stat().st_mode
        value = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the HTTP token {path}: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        # Anyone who can read it can drive the server: refuse rather than widen nothing.
        raise ConfigError(
            f"the HTTP token {path} can be read by other users (mode {stat.S_IMODE(mode):o}); "
            f"chmod 600 it, or delete it to have a new one generated"
        )
    _check_token(value, str(path))
    return Token(value, path)


def _check_token(value: str, source: str) -> None:
    if len(value) < MIN_TOKEN_LENGTH or not value.isascii() or any(c.isspace() for c in value):
        raise ConfigError(
            f"the HTTP token from {source} must be at least {MIN_TOKEN_LENGTH} printable ASCII "
            "characters without spaces"
        )


class StaticTokenVerifier:
    """The SDK's `TokenVerifier` for one shared token, compared in constant time."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()
        # The token is only a door key: who is calling is the MCP client's own name, which
        # the server reads from the session for the audit line. The same answer for every
        # request (nothing downstream changes it), not a model built per request.
        self._access = AccessToken(token="bearer", client_id="bearer", scopes=[])

    async def verify_token(self, token: str) -> AccessToken | None:
        if not hmac.compare_digest(token.encode(errors="replace"), self._token):
            return None
        return self._access


def security_settings(options: HttpOptions) -> TransportSecuritySettings:
    """Host and Origin must name this server: loopback names, the bound address, and any
    --allow-host. A browser page elsewhere (DNS rebinding included) is refused."""
    names = [*_LOOPBACK_NAMES]
    if not is_loopback(options.host) and options.host not in ("0.0.0.0", "::"):
        names.append(f"[{options.host}]" if ":" in options.host else options.host)
    names += [h for h in options.allowed_hosts if h not in names]
    hosts = [h for name in names for h in (name, f"{name}:*")]
    origins = [
        o
        for name in names
        for scheme in ("http", "https")
        for o in (f"{scheme}://{name}", f"{scheme}://{name}:*")
    ]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


class _Server:
    """uvicorn's server, stopping on SIGTERM/SIGINT as over stdio: the sessions end, the
    lifespan unwinds (paper account saved, status entry removed) and the process exits 0.
    (uvicorn itself re-raises the signal after shutting down, which kills the process.)"""

    def __init__(self, config: Any) -> None:
        import uvicorn

        class Server(uvicorn.Server):
            stopped_by: int | None = None

            def capture_signals(self) -> Any:
                import contextlib

                @contextlib.contextmanager
                def installed() -> Any:
                    def on_signal(signum: int, frame: FrameType | None) -> None:
                        if self.should_exit:
                            self.force_exit = True
                        self.should_exit = True
                        self.stopped_by = signum

                    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
                    try:
                        yield
                    finally:
                        for s, handler in old.items():
                            signal.signal(s, handler)

                return installed()

        self.server = Server(config)


def build_app(server: MCPServer[Any], options: HttpOptions, token: str) -> Starlette:
    """The ASGI app: the SDK's streamable HTTP app for `server` (a BinanceServer), with the
    bearer check and Host/Origin validation. Bodies are bounded as stdio lines are
    (server/intake.py): larger → 413; one nested past the SDK's JSON parser → 400 with a
    JSON-RPC parse error, from the SDK on both protocol eras; within that, tool arguments are
    screened by the server's call_tool as on stdio."""
    base = f"http://{options.host}:{options.port}"
    app: Starlette = server._lowlevel_server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        max_request_body_size=MAX_LINE,
        transport_security=security_settings(options),
        host=options.host,
        # Resource-server mode with a static verifier: no OAuth routes, no metadata routes
        # (resource_server_url None); the bearer middleware guards the MCP endpoint.
        auth=AuthSettings(issuer_url=base, resource_server_url=None),  # type: ignore[arg-type]
        token_verifier=StaticTokenVerifier(token),
        debug=False,
    )
    return app


async def serve(server: MCPServer[Any], options: HttpOptions, token: Token) -> int | None:
    """Serve until SIGINT/SIGTERM; returns the signal that stopped it, if any."""
    import uvicorn

    app = build_app(server, options, token.value)
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        # Our own log lines say what matters; uvicorn's access log would repeat each POST.
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    runner = _Server(config).server
    announce(options, token)
    await runner.serve()
    stopped: int | None = getattr(runner, "stopped_by", None)
    return stopped


def announce(options: HttpOptions, token: Token) -> None:
    # On stderr whatever the log level: the user needs the URL and where the token is.
    host = f"[{options.host}]" if ":" in options.host else options.host
    lines = [f"binance-mcp: MCP over streamable HTTP at http://{host}:{options.port}{MCP_PATH}"]
    if token.path is None:
        lines.append(f"  bearer token: from {ENV_HTTP_TOKEN}")
    else:
        made = "generated into" if token.generated else "read from"
        lines.append(f"  bearer token: {made} {token.path} (mode 0600)")
    lines.append("  clients send it as `Authorization: Bearer <token>`")
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()
