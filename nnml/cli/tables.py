"""Tables of runs on the terminal: the sweep summary, ``nnml compare`` and ``nnml tune``'s leaderboard print through
here (the rows and their rich Table come from :mod:`nnml.sweep.runs`)."""

from __future__ import annotations

from nnml.sweep.runs import rich_table


def table_console():
    """A console for wide tables: a terminal's own width; logs and pipes (80 columns by default) get 200."""
    from rich.console import Console

    c = Console()
    return c if c.is_terminal else Console(width=200)


def print_rows(console, table_rows: list[dict], title: str, hparams: list[str], show_all: bool = False,
               all_hint: str = "--all shows them") -> None:
    """Table of the runs that finished (the run column only when no hyperparameter tells them apart), then one
    line per failed or unfinished run; ``show_all`` puts those in the table too."""
    from rich.markup import escape

    shown = table_rows if show_all else [r for r in table_rows if r.get("status") in ("ok", "pruned")]
    left_out = len(table_rows) - len(shown)
    if shown:
        shown = [{**r, "rank": i} for i, r in enumerate(shown, 1)]
        console.print(rich_table(shown, title, show_run=not hparams, width=console.width))
    elif title:
        console.print(title, highlight=False, markup=False)
    if left_out:
        console.print(f"{left_out} failed or unfinished {'run' if left_out == 1 else 'runs'} kept out of the table "
                      f"({all_hint}):", highlight=False, markup=False)
    for row in table_rows:
        if row.get("error") or (not show_all and row.get("status") not in ("ok", "pruned")):
            if not row.get("error"):
                console.print(f"[red]{escape(str(row.get('status')))}[/red] {escape(str(row['run']))}",
                              soft_wrap=True, highlight=False)
                continue
            console.print(f"[red]failed[/red] {escape(str(row['run']))}: {escape(str(row['error']))}",
                          soft_wrap=True, highlight=False)
