"""Every relative link of the documentation resolves: README.md, docs/*.md and results/*.md link only to
files that exist and, where a link names a heading of a Markdown page (``page.md#heading``), to a heading
that page has (its anchor made as GitHub makes it). Links inside code are not links and are left out."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("results/*.md")])

FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def prose(text: str) -> str:
    """The page without its code blocks and inline code."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def anchors(page: Path) -> set[str]:
    """The heading anchors GitHub gives a Markdown page: lower case, punctuation dropped (hyphens and
    underscores kept), spaces as hyphens, a repeated anchor numbered -1, -2, ..."""
    seen: dict[str, int] = {}
    out = set()
    for title in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)  # a link in a heading keeps its text
        slug = re.sub(r"[^\w\- ]", "", title.replace("`", "").lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def relative_links(page: Path) -> list[str]:
    return [target for target in LINK.findall(prose(page.read_text(encoding="utf-8")))
            if not re.match(r"[a-z][a-z0-9+.-]*:", target)]  # http:, https:, mailto: are not checked


def broken(page: Path) -> list[str]:
    """Each link of ``page`` that does not resolve, with why."""
    faults = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            faults.append(f"{target}: no such file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            faults.append(f"{target}: {dest.name} has no heading with the anchor #{anchor}")
    return faults


def test_pages_are_found():
    assert ROOT / "README.md" in PAGES and any(p.parent.name == "docs" for p in PAGES)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    assert broken(page) == []


def test_a_broken_link_is_found(tmp_path):
    """The check can fail: a missing file, a missing heading, and a link in code that is not checked."""
    (tmp_path / "other.md").write_text("# A heading: with `code`\n")
    page = tmp_path / "page.md"
    page.write_text("[a](missing.md) [b](other.md#nope) [c](other.md#a-heading-with-code) `[d](gone.md)`\n"
                    "```\n[e](gone.md)\n```\n[f](https://example.org/x)\n")
    faults = broken(page)
    assert len(faults) == 2
    assert faults[0].startswith("missing.md: no such file") and "#nope" in faults[1]
