"""The report's document: headings, paragraphs, tables and images, rendered to Markdown and to HTML.

The Markdown keeps images as files beside it; the HTML is self-contained (PNG images embedded, SVG inline). The only
inline Markdown the report writes is `code` and **bold**, and the HTML renders just those.
"""
from __future__ import annotations

import base64
import html
from pathlib import Path


class Doc:
    def __init__(self):
        self.blocks = []

    def h(self, level, text):
        self.blocks.append(("h", level, text))

    def p(self, text):
        self.blocks.append(("p", text))

    def table(self, header, rows):
        self.blocks.append(("table", header, rows))

    def img(self, path: Path, alt: str):
        self.blocks.append(("img", path, alt))

    def markdown(self, base: Path) -> str:
        out = []
        for b in self.blocks:
            if b[0] == "h":
                out.append("#" * b[1] + " " + b[2])
            elif b[0] == "p":
                out.append(b[1])
            elif b[0] == "table":
                cell = lambda c: str(c).replace("|", "\\|").replace("\n", " ")  # noqa: E731
                out.append("\n".join(["| " + " | ".join(map(cell, b[1])) + " |",
                                      "|" + "|".join("---" for _ in b[1]) + "|",
                                      *("| " + " | ".join(map(cell, r)) + " |" for r in b[2])]))
            elif b[0] == "img":
                out.append(f"![{b[2]}]({b[1].relative_to(base).as_posix()})")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
               "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
               "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
               "th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}"
               "th{background:#f3f3f3}img{max-width:100%}code{background:#f3f3f3}</style></head><body>"]
        for b in self.blocks:
            if b[0] == "h":
                out.append(f"<h{b[1]}>{html.escape(b[2])}</h{b[1]}>")
            elif b[0] == "p":
                out.append(f"<p>{_inline_html(b[1])}</p>")
            elif b[0] == "table":
                out.append("<table><tr>" + "".join(f"<th>{_inline_html(str(c))}</th>" for c in b[1]) + "</tr>")
                out += ["<tr>" + "".join(f"<td>{_inline_html(str(c))}</td>" for c in r) + "</tr>" for r in b[2]]
                out.append("</table>")
            elif b[0] == "img" and b[1].suffix == ".svg":  # inline, so that its tooltips work
                out.append(f"<figure>{b[1].read_text(encoding='utf-8')}</figure>")
            elif b[0] == "img":
                data = base64.b64encode(b[1].read_bytes()).decode()
                out.append(f"<p><img alt='{html.escape(b[2])}' src='data:image/png;base64,{data}'></p>")
        out.append("</body></html>")
        return "\n".join(out)


def _inline_html(text: str) -> str:
    """Escape, then render the only Markdown the report writes inline: `code` and **bold**."""
    parts = html.escape(text).split("`")
    s = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = s.split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))
