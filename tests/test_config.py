"""Settings resolution: every env/flag rule, precedence, and each bad-configuration message."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from binance_mcp.config import ConfigError, Settings, resolve_keys, resolve_settings
from binance_mcp.exchange.venues import HOSTED_VENUES

KEY = "k" * 64
SECRET = "s" * 64
KEYS = {"BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": SECRET}


def settings(env: dict[str, str], tmp_path: Path, **cli: Any) -> Settings:
    # Always pin the state dir unless the test is about it, so nothing touches the real one.
    env = {"BINANCE_MCP_STATE_DIR": str(tmp_path / "state"), **env}
    return resolve_settings(env, **cli)


def config_error(env: dict[str, str], tmp_path: Path, **cli: Any) -> str:
    with pytest.raises(ConfigError) as info:
        settings(env, tmp_path, **cli)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- venue -------------------------------------------------------------------------------------


def test_no_keys_means_paper(tmp_path: Path) -> None:
    s = settings({}, tmp_path)
    assert (s.venue, s.venue_source) == ("paper", "default: no API keys")
    assert not s.has_keys and s.paper_in_process
    assert s.fixed_endpoints() is None


def test_keys_without_venue_mean_live(tmp_path: Path) -> None:
    s = settings(KEYS, tmp_path)
    assert s.venue == "live" and s.venue_source.startswith("default")
    assert s.has_keys


@pytest.mark.parametrize(
    ("env", "venue", "source"),
    [
        ({"BINANCE_MCP_VENUE": "demo"}, "demo", "BINANCE_MCP_VENUE"),
        ({"BINANCE_MCP_VENUE": " Testnet "}, "testnet", "BINANCE_MCP_VENUE"),
        ({"BINANCE_MCP_VENUE": "PAPER", **KEYS}, "paper", "BINANCE_MCP_VENUE"),
        ({"BINANCE_TESTNET": "true"}, "testnet", "BINANCE_TESTNET=true"),
        ({"BINANCE_TESTNET": "1", **KEYS}, "testnet", "BINANCE_TESTNET=true"),
        ({"BINANCE_DEMO": "yes"}, "demo", "BINANCE_DEMO=true"),
        ({"BINANCE_DEMO": "TRUE", "BINANCE_TESTNET": "false"}, "demo", "BINANCE_DEMO=true"),
        ({"BINANCE_TESTNET": "0", **KEYS}, "live", "default: API keys set, no venue chosen"),
        ({"BINANCE_TESTNET": ""}, "paper", "default: no API keys"),
        ({"BINANCE_MCP_VENUE": "testnet", "BINANCE_TESTNET": "true"}, "testnet", None),
        ({"BINANCE_MCP_VENUE": "demo", "BINANCE_DEMO": "on"}, "demo", None),
        ({"BINANCE_MCP_VENUE": "live", "BINANCE_TESTNET": "off"}, "live", None),
    ],
)
def test_venue_from_env(
    env: dict[str, str], venue: str, source: str | None, tmp_path: Path
) -> None:
    s = settings(env, tmp_path)
    assert s.venue == venue
    if source is not None:
        assert s.venue_source == source


@pytest.mark.parametrize(
    "env",
    [
        {"BINANCE_MCP_VENUE": "live"},
        {"BINANCE_TESTNET": "true"},
        {"BINANCE_DEMO": "true"},
        {"BINANCE_TESTNET": "true", "BINANCE_DEMO": "true"},  # contradictory, but overridden
        {**KEYS},
    ],
)
def test_cli_venue_wins_over_env(env: dict[str, str], tmp_path: Path) -> None:
    s = settings(env, tmp_path, venue="paper")
    assert (s.venue, s.venue_source) == ("paper", "--venue")


def test_blank_cli_venue_is_no_venue(tmp_path: Path) -> None:
    assert settings({"BINANCE_MCP_VENUE": "demo"}, tmp_path, venue="").venue == "demo"


# --- keys --------------------------------------------------------------------------------------


def test_secret_key_alias_is_accepted(tmp_path: Path) -> None:
    s = settings({"BINANCE_API_KEY": KEY, "BINANCE_SECRET_KEY": SECRET}, tmp_path)
    assert s.api_secret is not None and s.api_secret.get_secret_value() == SECRET


def test_both_secret_names_may_agree(tmp_path: Path) -> None:
    s = settings({**KEYS, "BINANCE_SECRET_KEY": SECRET}, tmp_path)
    assert s.has_keys


def test_keys_are_stripped_and_empty_means_unset(tmp_path: Path) -> None:
    s = settings({"BINANCE_API_KEY": f" {KEY}\n", "BINANCE_API_SECRET": SECRET}, tmp_path)
    assert s.api_key is not None and s.api_key.get_secret_value() == KEY
    empty = settings({"BINANCE_API_KEY": "", "BINANCE_API_SECRET": "  "}, tmp_path)
    assert not empty.has_keys and empty.venue == "paper"


def test_resolve_keys_returns_both_or_neither() -> None:
    assert resolve_keys({}) == (None, None)
    key, secret = resolve_keys(KEYS)
    assert key is not None and secret is not None
    assert (key.get_secret_value(), secret.get_secret_value()) == (KEY, SECRET)


# --- bad configuration: one precise line each --------------------------------------------------

BAD: list[tuple[dict[str, str], dict[str, Any], list[str]]] = [
    (
        {"BINANCE_MCP_VENUE": "mainnet"},
        {},
        ["unknown venue 'mainnet'", "BINANCE_MCP_VENUE", "live, testnet, demo, paper"],
    ),
    ({}, {"venue": "prod"}, ["unknown venue 'prod'", "--venue", "live, testnet, demo, paper"]),
    (
        {"BINANCE_TESTNET": "true", "BINANCE_DEMO": "true"},
        {},
        ["BINANCE_TESTNET and BINANCE_DEMO are both true", "at most one"],
    ),
    ({"BINANCE_TESTNET": "maybe"}, {}, ["BINANCE_TESTNET must be true or false", "'maybe'"]),
    ({"BINANCE_DEMO": "2"}, {"venue": "live"}, ["BINANCE_DEMO must be true or false"]),
    (
        {"BINANCE_MCP_VENUE": "live", "BINANCE_TESTNET": "true"},
        {},
        ["BINANCE_MCP_VENUE=live contradicts BINANCE_TESTNET=true"],
    ),
    (
        {"BINANCE_MCP_VENUE": "testnet", "BINANCE_DEMO": "true"},
        {},
        ["BINANCE_MCP_VENUE=testnet contradicts BINANCE_DEMO=true"],
    ),
    (
        {"BINANCE_API_KEY": KEY},
        {},
        ["BINANCE_API_KEY is set but BINANCE_API_SECRET (or BINANCE_SECRET_KEY) is not"],
    ),
    ({"BINANCE_API_SECRET": SECRET}, {}, ["BINANCE_API_SECRET is set but BINANCE_API_KEY is not"]),
    ({"BINANCE_SECRET_KEY": SECRET}, {}, ["BINANCE_SECRET_KEY is set but BINANCE_API_KEY is not"]),
    (
        {**KEYS, "BINANCE_SECRET_KEY": "other"},
        {},
        ["BINANCE_API_SECRET and BINANCE_SECRET_KEY are both set and differ"],
    ),
    (
        {"BINANCE_API_KEY": "abc def", "BINANCE_API_SECRET": SECRET},
        {},
        ["BINANCE_API_KEY contains whitespace or non-ASCII"],
    ),
    (
        {"BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": "s\u2019cret"},
        {},
        ["BINANCE_API_SECRET contains whitespace or non-ASCII"],
    ),
    (
        {"BINANCE_MCP_SPOT_URL": "ftp://127.0.0.1/api"},
        {"venue": "live"},
        ["BINANCE_MCP_SPOT_URL must be an http:// or https:// URL", "'ftp://127.0.0.1/api'"],
    ),
    (
        {"BINANCE_MCP_FUTURES_URL": "127.0.0.1:8800/fapi"},
        {"venue": "live"},
        ["BINANCE_MCP_FUTURES_URL must be an http:// or https:// URL"],
    ),
    ({"BINANCE_MCP_SPOT_URL": "http:///api"}, {"venue": "live"}, ["with a host"]),
    (
        {"BINANCE_MCP_SPOT_URL": "https://api{}.binance.com/api"},
        {"venue": "live"},
        ["BINANCE_MCP_SPOT_URL must not contain '{' or '}'"],
    ),
    (
        {"BINANCE_MCP_SPOT_URL": "http://h/api?x=1"},
        {"venue": "live"},
        ["must not have a query or fragment"],
    ),
    ({"BINANCE_MCP_SPOT_URL": "http://h:99999/api"}, {"venue": "live"}, ["invalid port"]),
    (
        {"BINANCE_MCP_SPOT_URL": "http://127.0.0.1:8800/api"},
        {},
        [
            "venue paper with a running paper exchange needs both BINANCE_MCP_SPOT_URL and "
            "BINANCE_MCP_FUTURES_URL"
        ],
    ),
    ({"BINANCE_MCP_FUTURES_URL": "http://127.0.0.1:8800/fapi"}, {"venue": "paper"}, ["needs both"]),
]


@pytest.mark.parametrize(("env", "cli", "expected"), BAD)
def test_bad_configuration(
    env: dict[str, str], cli: dict[str, Any], expected: list[str], tmp_path: Path
) -> None:
    message = config_error(env, tmp_path, **cli)
    for part in expected:
        assert part in message


def test_key_errors_never_show_the_values(tmp_path: Path) -> None:
    for env in (
        {"BINANCE_API_KEY": KEY},
        {"BINANCE_API_SECRET": SECRET},
        {**KEYS, "BINANCE_SECRET_KEY": SECRET + "x"},
        {"BINANCE_API_KEY": KEY + " x", "BINANCE_API_SECRET": SECRET},
    ):
        message = config_error(env, tmp_path)
        assert KEY not in message and SECRET not in message


# --- warnings ----------------------------------------------------------------------------------


@pytest.mark.parametrize("venue", ["live", "testnet", "demo"])
def test_hosted_venue_without_keys_is_allowed_with_a_warning(
    venue: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="binance_mcp"):
        s = settings({}, tmp_path, venue=venue)
    assert s.venue == venue and not s.has_keys
    assert f"venue {venue} without API keys" in caplog.text


def test_paper_without_keys_does_not_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="binance_mcp"):
        settings({}, tmp_path)
    assert caplog.text == ""


def test_url_not_ending_in_api_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="binance_mcp"):
        settings({**KEYS, "BINANCE_MCP_SPOT_URL": "http://127.0.0.1:8800"}, tmp_path)
    assert "does not end in /api" in caplog.text


# --- endpoints ---------------------------------------------------------------------------------


@pytest.mark.parametrize("venue", ["live", "testnet", "demo"])
def test_hosted_venues_use_their_table_entry(venue: str, tmp_path: Path) -> None:
    endpoints = settings(KEYS, tmp_path, venue=venue).fixed_endpoints()
    assert endpoints is not None
    assert endpoints.venue == venue
    assert (endpoints.spot_url, endpoints.futures_url) == (
        HOSTED_VENUES[venue].spot_url,  # type: ignore[index]
        HOSTED_VENUES[venue].futures_url,  # type: ignore[index]
    )
    assert endpoints.api_key is not None and endpoints.api_key.get_secret_value() == KEY


def test_venue_table_switches_spot_and_futures_together() -> None:
    assert HOSTED_VENUES["live"].spot_url == "https://api.binance.com/api"
    assert HOSTED_VENUES["live"].futures_url == "https://fapi.binance.com/fapi"
    assert HOSTED_VENUES["testnet"].spot_url == "https://testnet.binance.vision/api"
    assert HOSTED_VENUES["testnet"].futures_url == "https://testnet.binancefuture.com/fapi"
    assert HOSTED_VENUES["demo"].spot_url == "https://demo-api.binance.com/api"
    assert HOSTED_VENUES["demo"].futures_url == "https://demo-fapi.binance.com/fapi"


def test_url_overrides_replace_the_venue_hosts(tmp_path: Path) -> None:
    env = {
        **KEYS,
        "BINANCE_MCP_VENUE": "testnet",
        "BINANCE_MCP_SPOT_URL": "http://127.0.0.1:9000/api/",
        "BINANCE_MCP_FUTURES_URL": "https://proxy.example/fapi",
    }
    endpoints = settings(env, tmp_path).fixed_endpoints()
    assert endpoints is not None and endpoints.venue == "testnet"
    assert endpoints.spot_url == "http://127.0.0.1:9000/api"  # trailing slash dropped
    assert endpoints.futures_url == "https://proxy.example/fapi"


def test_one_override_keeps_the_other_venue_host(tmp_path: Path) -> None:
    env = {**KEYS, "BINANCE_MCP_VENUE": "demo", "BINANCE_MCP_SPOT_URL": "http://127.0.0.1:1/api"}
    endpoints = settings(env, tmp_path).fixed_endpoints()
    assert endpoints is not None
    assert endpoints.futures_url == HOSTED_VENUES["demo"].futures_url


def test_paper_with_urls_uses_the_running_exchange(tmp_path: Path) -> None:
    env = {
        "BINANCE_MCP_SPOT_URL": "http://127.0.0.1:8800/api",
        "BINANCE_MCP_FUTURES_URL": "http://127.0.0.1:8800/fapi",
    }
    s = settings(env, tmp_path)  # no keys → paper
    assert s.venue == "paper" and not s.paper_in_process
    endpoints = s.fixed_endpoints()
    assert endpoints is not None
    assert (endpoints.venue, endpoints.spot_url) == ("paper", "http://127.0.0.1:8800/api")


# --- state dir and policy ----------------------------------------------------------------------


def test_state_dir_default_is_the_platform_dir() -> None:
    import platformdirs

    s = resolve_settings({})
    assert s.state_dir == Path(platformdirs.user_state_dir("binance-mcp"))
    assert s.paper_state_dir == s.state_dir / "paper"


def test_state_dir_env_and_cli_precedence(tmp_path: Path) -> None:
    env = {"BINANCE_MCP_STATE_DIR": str(tmp_path / "env")}
    assert resolve_settings(env).state_dir == tmp_path / "env"
    assert resolve_settings(env, state_dir=tmp_path / "cli").state_dir == tmp_path / "cli"


def test_state_dir_expands_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_settings({"BINANCE_MCP_STATE_DIR": "~/st"}).state_dir == tmp_path / "st"


def test_relative_state_dir_becomes_absolute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_settings({}, state_dir="rel").state_dir == tmp_path / "rel"


def test_state_dir_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match=r"state dir .* \(from --state-dir\) exists and is not"):
        resolve_settings({}, state_dir=tmp_path / "f")


def test_policy_from_env_and_cli(tmp_path: Path) -> None:
    env_file, cli_file = tmp_path / "env.yaml", tmp_path / "cli.yaml"
    env_file.write_text("version: 1\n")
    cli_file.write_text("version: 1\n")
    assert settings({}, tmp_path).policy_path is None
    assert settings({"BINANCE_MCP_POLICY": str(env_file)}, tmp_path).policy_path == env_file
    chosen = settings({"BINANCE_MCP_POLICY": str(env_file)}, tmp_path, policy=str(cli_file))
    assert chosen.policy_path == cli_file


def test_missing_policy_is_an_error(tmp_path: Path) -> None:
    message = config_error({"BINANCE_MCP_POLICY": str(tmp_path / "nope.yaml")}, tmp_path)
    assert (
        message == f"policy file {tmp_path / 'nope.yaml'} (from BINANCE_MCP_POLICY) does not exist"
    )
    message = config_error({}, tmp_path, policy=tmp_path)
    assert "(from --policy) is not a regular file" in message


# --- secrets never in repr/str -----------------------------------------------------------------


def test_settings_repr_and_str_hide_keys(tmp_path: Path) -> None:
    s = settings({**KEYS, "BINANCE_MCP_VENUE": "testnet"}, tmp_path)
    endpoints = s.fixed_endpoints()
    for text in (repr(s), str(s), f"{s}", repr(endpoints), str(endpoints), repr(s.api_secret)):
        assert SECRET not in text
        assert KEY not in text
    assert "testnet" in repr(s)


def test_policy_read_failure_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Same rule as above, runnable as root: whatever makes open() fail is reported.
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\n")

    def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)
    message = config_error({}, tmp_path, policy=policy)
    assert message == f"policy file {policy} (from --policy) cannot be read: Permission denied"
