"""Every paper folder, discovered from papers/*, held to the contract (CONTRIBUTING.md)."""

import re
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
    assert 1600 <= words <= 3200, f"article.md has {words} words; aim for 6-12 minutes of reading"
    assert list((paper.folder / "figures").glob("*.png")), "no committed figures"


def test_every_paper_is_installed_by_the_workspace():
    assert check.check_workspace(ROOT, PAPERS) == []


def test_readme_index_matches_the_folders():
    assert check.check_index(ROOT) == []


def test_every_relative_markdown_link_resolves():
    assert check.check_links(ROOT) == []


DONE = [p for p in PAPERS if p.meta.get("status") == "done"]
SERIES = "*This article is part of the series **Twenty Papers, Run on a Laptop**."


def prose(markdown: str) -> str:
    """The text outside code fences, inline code and display equations."""
    text = re.sub(r"^(```|~~~).*?^\1", "", markdown, flags=re.M | re.S)
    text = re.sub(r"\$\$.*?\$\$", "", text, flags=re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def test_prose_strips_code_and_display_maths():
    assert prose("a $$x^2$$ b `$y$` c\n```\n$z$\n```\n") == "a  b  c\n\n"


@pytest.mark.parametrize("paper", DONE, ids=[p.name for p in DONE])
def test_article_has_no_inline_maths_for_medium(paper):
    # Medium turns each inline formula into an image that splits the paragraph: plain Unicode instead.
    lines = [line for line in prose((paper.folder / "article.md").read_text()).splitlines() if "$" in line]
    assert lines == [], f"inline maths in article.md: {lines[:3]}"


@pytest.mark.parametrize("paper", DONE, ids=[p.name for p in DONE])
def test_article_names_the_series_and_links_its_folder(paper):
    article = (paper.folder / "article.md").read_text()
    line = f"{SERIES} The code, notes and tests for it are in [papers/{paper.name}](README.md).*"
    assert line in article, f"article.md should carry the series line: {line}"
    head = article.split("\n## ", 1)[0]
    assert not re.search(r"\bpart \d", head, flags=re.I), "no part numbers: the series has no fixed order"


@pytest.mark.parametrize("paper", DONE, ids=[p.name for p in DONE])
def test_every_self_check_question_has_an_answer(paper):
    notes = (paper.folder / "notes.md").read_text()
    match = re.search(r"^## [^\n]*Self-check[^\n]*\n(.*?)(?=^## |\Z)", notes, flags=re.M | re.S)
    assert match, "notes.md has no self-check section"
    section = match.group(1)
    questions = re.findall(r"^\d+\. ", section, flags=re.M)
    answers = re.findall(r"<details><summary>Answer</summary>.+?</details>", section, flags=re.S)
    assert questions and len(answers) == len(questions), (len(questions), len(answers))
