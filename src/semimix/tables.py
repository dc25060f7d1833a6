"""Markdown tables and the numbers in them, for every table semimix prints or writes (attack and
path results, SCAR's selections, ``bench speed``, ``bench grid``'s ``table.md``). A bottom module:
it imports nothing, so any layer may use it."""

from __future__ import annotations

import math
from collections.abc import Sequence


def format_percent(value: float | None) -> str:
    """A fraction as a percentage with two decimals; ``n/a`` for None or NaN."""
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.2f}"


def _cell(value: object) -> str:
    """A cell's text, with ``|`` escaped so that it cannot split the cell."""
    return str(value).replace("|", "\\|")


def markdown_table(header: Sequence[object], rows: Sequence[Sequence[object]], aligned: bool = True) -> str:
    """A GitHub-flavoured Markdown table. ``aligned``: every column padded to one width, the first
    left-aligned and the rest right-aligned, for reading as plain text too; otherwise one space
    around each cell and no alignment (a file such as ``table.md`` whose cells are long texts)."""
    head, body = [_cell(h) for h in header], [[_cell(c) for c in row] for row in rows]
    if not aligned:
        return "\n".join(["| " + " | ".join(head) + " |", "|---" * len(head) + "|", *("| " + " | ".join(row) + " |" for row in body)])
    widths = [max(len(h), *(len(row[k]) for row in body)) for k, h in enumerate(head)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) if k == 0 else c.rjust(w) for k, (c, w) in enumerate(zip(cells, widths))) + " |"

    rule = "|" + "|".join((":" + "-" * (w + 1)) if k == 0 else ("-" * (w + 1) + ":") for k, w in enumerate(widths)) + "|"
    return "\n".join([line(head), rule, *(line(row) for row in body)])


__all__ = ["format_percent", "markdown_table"]
