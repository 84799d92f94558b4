"""Every paper folder, discovered from papers/*, held to the contract (CONTRIBUTING.md)."""

from pathlib import Path

import pytest
from papers_cli import check
from papers_cli.repo import papers

ROOT = Path(__file__).resolve().parents[1]
PAPERS = papers(ROOT)


def test_at_least_one_paper_is_discovered():
    assert any(p.name == "01_attention_is_all_you_need" for p in PAPERS)


@pytest.mark.parametrize("paper", PAPERS, ids=[p.name for p in PAPERS])
def test_paper_has_the_contract_files_and_metadata(paper):
    assert check.check_paper_files(paper) == []


@pytest.mark.parametrize("paper", PAPERS, ids=[p.name for p in PAPERS])
def test_paper_imports_no_other_paper(paper):
    assert [p for p in check.check_isolation(PAPERS) if paper.name in p] == []


@pytest.mark.parametrize("paper", [p for p in PAPERS if p.meta.get("status") == "done"],
                         ids=[p.name for p in PAPERS if p.meta.get("status") == "done"])
def test_done_paper_has_real_docs_and_committed_figures(paper):
    for name in ("notes.md", "article.md", "README.md"):
        text = (paper.folder / name).read_text()
        assert "TODO" not in text, f"{name} still has TODOs"
    assert len((paper.folder / "notes.md").read_text().split()) > 1500
    words = len((paper.folder / "article.md").read_text().split())
    assert 1200 <= words <= 3200, f"article.md has {words} words; aim for 6-12 minutes of reading"
    assert list((paper.folder / "figures").glob("*.png")), "no committed figures"


def test_every_paper_is_installed_by_the_workspace():
    assert check.check_workspace(ROOT, PAPERS) == []


def test_readme_index_matches_the_folders():
    assert check.check_index(ROOT) == []


def test_every_relative_markdown_link_resolves():
    assert check.check_links(ROOT) == []
