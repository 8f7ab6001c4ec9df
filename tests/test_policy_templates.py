"""The example policies that ship in the package: equal to examples/policies/, listed by
`policy templates`, and written by `policy init` as files that `policy check` accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from binance_mcp import policies
from binance_mcp.cli.main import main

EXAMPLES = Path(__file__).parent.parent / "examples" / "policies"


@pytest.mark.parametrize("name", policies.TEMPLATES)
def test_packaged_copy_equals_the_example(name: str) -> None:
    assert policies.text(name) == (EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", policies.TEMPLATES)
def test_policy_init_writes_a_policy_that_passes_check(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "policies" / f"{name}.yaml"
    assert main(["policy", "init", "--template", name, str(target)]) == 0
    assert f"wrote the {name} policy to {target}" in capsys.readouterr().err
    assert main(["policy", "check", str(target)]) == 0
    assert f"{target}: ok" in capsys.readouterr().out
    # Never over a file that exists, unless asked.
    assert main(["policy", "init", "--template", name, str(target)]) == 2
    assert "exists; --force" in capsys.readouterr().err
    assert main(["policy", "init", "--force", "--template", name, str(target)]) == 0


def test_templates_are_listed_and_init_defaults_to_read_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["policy", "templates"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == list(policies.TEMPLATES)
    assert listed[0].endswith("(default)")
    assert main(["policy", "init"]) == 0
    assert capsys.readouterr().out == policies.text("read-only")
    assert main(["policy", "init", "--template", "yolo"]) == 2
    assert "no template 'yolo'; templates: read-only," in capsys.readouterr().err


def test_server_json_describes_this_package() -> None:
    """The MCP registry's entry: the PyPI name and version of this build, both transports, and
    only environment variables the server reads."""
    import json
    import tomllib

    from binance_mcp import __version__, config
    from binance_mcp.server.http import ENV_HTTP_TOKEN

    root = EXAMPLES.parent.parent
    entry = json.loads((root / "server.json").read_text())
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert entry["version"] == __version__
    known = {v for k, v in vars(config).items() if k.startswith("ENV_")} | {ENV_HTTP_TOKEN}
    transports = set()
    for package in entry["packages"]:
        assert (package["registryType"], package["identifier"]) == ("pypi", project["name"])
        assert package["version"] == __version__
        assert {v["name"] for v in package["environmentVariables"]} <= known
        transports.add(package["transport"]["type"])
    assert transports == {"stdio", "streamable-http"}
    assert f"mcp-name: {entry['name']}" in (root / "README.md").read_text()
