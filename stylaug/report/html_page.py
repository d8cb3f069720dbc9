"""``results/report.html``: report.md as one static page that needs nothing else.

The page is report.md rendered (markdown-it, with tables), so it holds every table and figure the
Markdown has, and only those: one source for both. Every image report.md links (relative to its
folder) is embedded as a base64 data URI, so the file opens offline, from anywhere, with no
server and no network; an image that is missing is named in place of the picture.
"""

from __future__ import annotations

import base64
import html
import mimetypes
import re
from pathlib import Path
from urllib.parse import unquote

from stylaug.core.io import atomic_write_text

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1500px;
       padding: 0 16px; color: #1d1d1f; }
h1, h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0 18px; display: block; overflow-x: auto;
        font-size: 12.5px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; vertical-align: top; }
th { background: #f0f3f7; position: sticky; top: 0; }
tr:nth-child(even) td { background: #fafbfc; }
td strong { background: #ffe58a; padding: 0 3px; }
img { max-width: 100%; border: 1px solid #e4e4e4; margin: 4px 0 14px; }
code { background: #f2f2f2; padding: 0 3px; border-radius: 3px; }
.missing { color: #b00; font-style: italic; }
"""


def data_uri(path: Path) -> str:
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{kind};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def embed_images(body: str, folder: Path) -> str:
    """Replace each relative ``<img src>`` with the file's data URI (or a 'missing' note)."""

    def replace(m: re.Match) -> str:
        src, alt = unquote(html.unescape(m.group(1))), m.group(2)
        path = folder / src
        if not path.is_file():
            return f'<span class="missing">[missing image: {html.escape(src)}]</span>'
        return f'<img src="{data_uri(path)}" alt="{alt}" title="{html.escape(src)}"'

    return re.sub(r'<img src="([^"]*)" alt="([^"]*)"', replace, body)


def render(markdown: str, folder: Path, title: str = "stylaug report") -> str:
    """The whole page, images embedded."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"{embed_images(body, folder)}</body>\n</html>\n"
    )


def write_html(markdown: str, folder: Path) -> Path:
    path = Path(folder) / "report.html"
    atomic_write_text(path, render(markdown, Path(folder)))
    return path
