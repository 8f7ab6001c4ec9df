"""The console's limits panel on the paper venue: position and exposure bars from what the
paper account holds (issue 22, "limits at a glance")."""

from __future__ import annotations

import json
from pathlib import Path

from binance_mcp.console.view import ConsoleView


def test_position_and_exposure_bars_show_what_is_held(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "paper").mkdir(parents=True)
    (state / "paper" / "paper-account.json").write_text(json.dumps({
        "prices": {"BTCUSDT": "97000", "ETHUSDT": "3400"},
        "futures": {"positions": {
            "BTCUSDT:BOTH": {"symbol": "BTCUSDT", "amount": "-0.004", "entry": "97000"},
            "ETHUSDT:BOTH": {"symbol": "ETHUSDT", "amount": "0.1", "entry": "3300"},
        }},
    }))  # fmt: skip
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\nclasses: {read: allow, financial: allow}\n"
        'limits: {max_position_notional: "500", max_exposure: "700"}\n'
    )
    view = ConsoleView(state, policy=str(policy), venue="paper")
    bars = {b["rule"]: b for b in view.limits()["venues"][0]["bars"]}
    view.close()
    position = bars["limits.max_position_notional"]
    assert (position["used"], position["allowed"]) == ("388", "500")
    assert "BTCUSDT" in position["what"] and not position["over"]
    exposure = bars["limits.max_exposure"]
    assert (exposure["used"], exposure["allowed"]) == ("728", "700") and exposure["over"]
