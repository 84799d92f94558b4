"""Every config file of every paper parses with that paper's own CLI.

GPU configs cannot run in CI (no GPU there), but a misspelt or stale setting in one would only
show up on a user's GPU. `--print_config` validates every key and type against the model, data
and trainer signatures without building or training anything.
"""

import importlib
from pathlib import Path

import pytest
from papers_cli.repo import papers

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [(p, cfg) for p in papers(ROOT) for cfg in sorted((p.folder / "configs").glob("*.yaml"))]


@pytest.mark.parametrize(("paper", "config"), CONFIGS, ids=[f"{p.name}/{c.name}" for p, c in CONFIGS])
def test_config_parses_with_the_papers_cli(paper, config, capsys):
    train = importlib.import_module(f"{paper.slug}.train")
    with pytest.raises(SystemExit) as exit_info:
        train.main(["fit", "--config", str(config), "--print_config"])
    out = capsys.readouterr()
    assert exit_info.value.code in (0, None), out.err
    assert "model:" in out.out and "trainer:" in out.out
