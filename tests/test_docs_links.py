"""Every relative link in the README, CONTRIBUTING.md and docs/ reaches a file and heading."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md",
                *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+)$")

if not (ROOT / "docs").is_dir():
    pytest.skip("the documentation (docs/) is not here", allow_module_level=True)


def prose(text):
    """Return ``text`` without its fenced code blocks, where links and headings are not."""
    return re.sub(r"^```.*?^```$", "", text, flags=re.DOTALL | re.MULTILINE)


def slug(title):
    """Return a heading's anchor as GitHub and MkDocs make it."""
    title = re.sub(r"[`*]", "", title.strip().lower())
    return re.sub(r"[^\w\- ]", "", title).replace(" ", "-")


def anchors(page):
    """Return the anchors of ``page``: its headings', and the API entries (``::: path``)
    mkdocstrings writes, each anchored at its object's path."""
    lines = prose(page.read_text()).splitlines()
    return ({slug(match.group(1)) for match in map(HEADING.match, lines) if match}
            | {line[4:].strip() for line in lines if line.startswith("::: ")})


def broken_links(page):
    """Return the links of ``page`` that reach no file, or no heading of it."""
    broken = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # http:, https:, mailto:
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (file.suffix != ".md" or anchor not in anchors(file)):
            broken.append(f"{target}: no such heading")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_link_arrives(page):
    assert broken_links(page) == []


def test_the_checker_sees_a_broken_link(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## Part two\n\n::: package.Thing\n")
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n[ok](other.md#part-two) [here](#page) [gone](missing.md) "
                    "[api](other.md#package.Thing) "
                    "[no heading](other.md#part-three) [web](https://example.org)\n"
                    "```\n[in code](nowhere.md)\n```\n")
    assert broken_links(page) == ["missing.md: no such file", "other.md#part-three: no such heading"]
