"""Static HTML pages: one file, inline CSS, images beside it by relative path; no server, no internet."""

from __future__ import annotations

import html
from collections.abc import Iterable

import pandas as pd

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 0.4em; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; } .note { color: #666; font-size: 0.9em; }
pre { white-space: pre-wrap; font-size: 0.8em; background: #fafafa; padding: 0.6em; }
.bad { color: #b00020; } .good { color: #006400; }
"""


def esc(value: object) -> str:
    """HTML-escaped text of any value."""
    return html.escape("" if value is None else str(value))


def table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A table of a DataFrame, numbers right-aligned to ``digits`` decimals, empty cells as —."""
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for value in record:
            if isinstance(value, float):
                text = "—" if pd.isna(value) else f"{value:.{digits}f}"
                cells.append(f'<td class="num">{text}</td>')
            elif isinstance(value, int | bool):
                cells.append(f'<td class="num">{esc(value)}</td>')
            else:
                cells.append(f"<td>{esc('—' if value is None else value)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def image(src: str, caption: str = "", width: int | None = None) -> str:
    """A figure of an image beside the page (``src`` relative to the page)."""
    style = f' style="max-width:{width}px"' if width else ""
    return (f'<figure{style}><a href="{esc(src)}"><img src="{esc(src)}" alt="{esc(caption or src)}"></a>'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def definition_list(items: Iterable[tuple[str, object]]) -> str:
    """Label–value pairs as a two-column table."""
    return "<table>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in items) + "</table>"


def page(title: str, sections: Iterable[tuple[str, str]], subtitle: str = "") -> str:
    """A whole HTML document: a title, then (heading, body HTML) sections."""
    body = "".join(f"<section><h2>{esc(h)}</h2>{content}</section>" for h, content in sections)
    lead = f'<p class="note">{esc(subtitle)}</p>' if subtitle else ""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{STYLE}</style></head><body><h1>{esc(title)}</h1>{lead}{body}</body></html>\n")
