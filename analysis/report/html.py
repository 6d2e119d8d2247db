r"""Markdown → self-contained HTML, for the Markdown subset eoss generates.

Supported subset (exactly what :mod:`eoss.analysis.report.markdown` writes): ATX
headings
``#``–``######``; paragraphs; ``-`` bullet lists; pipe tables (header row, ``---``
separator row, body rows; ``\|`` escapes a pipe inside a cell); images
``![alt](path)`` on their own line; inline ``code``, ``**bold**`` (not inside a
word, so a formula's ``a1**2`` stays literal), ``*italic*`` and ``[text](url)``;
fenced code blocks. Wide tables scroll inside their own box and long list items
and cells wrap, so nothing widens the page. Everything else is escaped text. Images are
embedded as base64 ``data:`` URIs through a loader, so the HTML file stands alone.
A table cell holding exactly a verdict (:class:`~eoss.analysis.claims.verdict.Verdict`
value, bold or not) gets that verdict's CSS class. No dependency beyond the standard
library and that enum.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable

from eoss.analysis.claims.verdict import Verdict

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;line-height:1.45;color:#222}
.table-wrap{overflow-x:auto;max-width:100%;margin:1em 0}
table{border-collapse:collapse;font-size:0.88em}
li,td,p{overflow-wrap:anywhere} code{overflow-wrap:anywhere;white-space:pre-wrap}
th,td{border:1px solid #ccc;padding:0.3em 0.5em;vertical-align:top;text-align:left;
max-width:40em}
th{background:#f3f3f3} code{background:#f5f5f5;padding:0 0.2em}
pre{background:#f5f5f5;padding:0.6em;overflow-x:auto} img{max-width:100%}
.v-supported{background:#e3f5e1}.v-not-supported{background:#fbe3e3}
.v-inconclusive{background:#fff6d5}.v-not-measured{background:#eeeeee}
"""
# the alt text may hold brackets (e.g. "E_B[λ_max(H_B)]"): it runs to the last "]("
_IMAGE = re.compile(r"^!\[(.*)\]\(([^)\s]+)\)$")
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}
_VERDICTS = {v.value: v for v in Verdict}


def inline(text: str) -> str:
    """Convert inline Markdown (code, bold, italic, links) after escaping HTML.

    Args:
        text: One line or cell of Markdown.

    Returns:
        HTML.
    """
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for part in parts:
        if len(part) >= 2 and part.startswith("`") and part.endswith("`"):
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
            continue
        s = html.escape(part, quote=False)
        s = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', s)
        # not inside a word: sympy's a1**2 + b1**2 is not bold
        s = re.sub(
            r"(?<![\w*])\*\*(?=\S)([^*]+?)(?<=\S)\*\*(?![\w*])",
            r"<strong>\1</strong>",
            s,
        )
        s = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", s)
        out.append(s)
    return "".join(out)


def _cells(line: str) -> list[str]:
    body = line.strip().strip("|")
    cells = re.split(r"(?<!\\)\|", body)
    return [c.strip().replace("\\|", "|") for c in cells]


def _verdict_class(cell: str) -> str:
    key = re.sub(r"[^a-z ]", "", cell.lower()).strip()
    verdict = _VERDICTS.get(key)
    return "" if verdict is None else f' class="{verdict.css_class}"'


def _table(lines: list[str]) -> str:
    head = _cells(lines[0])
    rows = [_cells(x) for x in lines[2:]]
    out = ['<div class="table-wrap"><table>', "<thead><tr>"]
    out += [f"<th>{inline(c)}</th>" for c in head]
    out.append("</tr></thead><tbody>")
    for r in rows:
        tds = "".join(f"<td{_verdict_class(c)}>{inline(c)}</td>" for c in r)
        out.append(f"<tr>{tds}</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _image(alt: str, src: str, loader: Callable[[str], bytes | None] | None) -> str:
    data = loader(src) if loader else None
    if data is not None:
        mime = _MIME.get(
            "." + src.rsplit(".", 1)[-1].lower(), "application/octet-stream"
        )
        src = f"data:{mime};base64,{base64.b64encode(data).decode()}"
    return f'<p><img src="{html.escape(src)}" alt="{html.escape(alt)}"></p>'


def _is_table_start(lines: list[str], i: int) -> bool:
    return (
        lines[i].lstrip().startswith("|")
        and i + 1 < len(lines)
        and re.fullmatch(
            r"\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*", lines[i + 1]
        )
        is not None
    )


def _block(
    lines: list[str], i: int, loader: Callable[[str], bytes | None] | None
) -> tuple[str, int]:
    """Convert the block starting at line ``i``; return (html, next line index)."""
    line = lines[i]
    if line.startswith("```"):
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        return (
            f"<pre><code>{html.escape(chr(10).join(lines[i + 1 : j]))}</code></pre>",
            j + 1,
        )
    m = re.match(r"^(#{1,6})\s+(.*)$", line)
    if m:
        n = len(m.group(1))
        return f"<h{n}>{inline(m.group(2))}</h{n}>", i + 1
    m = _IMAGE.match(line.strip())
    if m:
        return _image(m.group(1), m.group(2), loader), i + 1
    if _is_table_start(lines, i):
        j = i + 2
        while j < len(lines) and lines[j].lstrip().startswith("|"):
            j += 1
        return _table(lines[i:j]), j
    if line.startswith("- "):
        j, items = i, []
        while j < len(lines) and lines[j].startswith("- "):
            items.append(f"<li>{inline(lines[j][2:])}</li>")
            j += 1
        return "<ul>\n" + "\n".join(items) + "\n</ul>", j
    j = i
    para = []
    while j < len(lines) and lines[j].strip() and not _starts_block(lines, j):
        para.append(lines[j].strip())
        j += 1
    return f"<p>{inline(' '.join(para))}</p>", max(j, i + 1)


def _starts_block(lines: list[str], j: int) -> bool:
    s = lines[j]
    return (
        s.startswith(("#", "- ", "```"))
        or _IMAGE.match(s.strip()) is not None
        or _is_table_start(lines, j)
    )


def markdown_to_html(
    text: str, *, title: str, image_loader: Callable[[str], bytes | None] | None = None
) -> str:
    """Convert eoss's Markdown subset to one self-contained HTML document.

    Args:
        text: The Markdown.
        title: The document title.
        image_loader: Maps an image path to its bytes (embedded as a data URI), or
            returns None to keep the link.

    Returns:
        The HTML text.
    """
    lines = text.split("\n")
    body, i = [], 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        chunk, i = _block(lines, i, image_loader)
        body.append(chunk)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
