"""``nnml recommend RUN_DIR --user ID [--k 10]``: a trained recommender's top items for one user (titles and
scores, the user's training items excluded), after the user's history; ``--item ID``: the items most similar to
one item (cosine similarity of the model's item vectors).

Ids are the dataset's own (MovieLens ``user_id`` / ``item_id``; on synthetic data the 0-based index). The run is
restored from its folder like ``nnml eval`` (:func:`nnml.run.restore.restore_run`).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from nnml.cli.report import ALLOW_HELP


def register(app: typer.Typer) -> None:
    @app.command()
    def recommend(
        run_dir: Path = typer.Argument(..., help="A run folder of nnml train task=recommendation."),
        user: Optional[str] = typer.Option(None, "--user", "-u", help="Recommend for this user id."),
        item: Optional[str] = typer.Option(None, "--item", "-i", help="Show the items most similar to this item id."),
        k: Optional[int] = typer.Option(None, "--k", "-k", help="How many items (default: the run's task.k)."),
        history: int = typer.Option(10, "--history", help="How many of the user's latest training items to show."),
        checkpoint: str = typer.Option("best", "--checkpoint", "-c", help="best, last, or a checkpoint path."),
        allow: Optional[List[str]] = typer.Option(None, "--allow", help=ALLOW_HELP),
        json_out: bool = typer.Option(False, "--json", help="JSON lines instead of tables."),
    ) -> None:
        """Top items for a user, or similar items: nnml recommend outputs/train/runs/<run> --user 42"""
        from nnml.cli.report import run_cli_guarded

        def job():
            from nnml.errors import NnmlError

            if (user is None) == (item is None):
                raise NnmlError("nnml recommend needs exactly one of --user ID or --item ID")
            from nnml.run.restore import restore_run

            restored = restore_run(run_dir, checkpoint, allow=allow or ())  # best: last.pt without a val split
            task = restored.task
            if not hasattr(task, "recommend"):
                raise NnmlError(f"{run_dir} is a run of {type(task).__name__}, not of task=recommendation")
            data = task.data
            if user is not None:
                u = data.user_index(user)
                recs = task.recommend(u, k)
                hist = task.history(u)
                rows = [{"item": data.item_ids[i], "title": data.item_titles[i], "genres": data.item_genres[i],
                         "value": v} for i, v, _ in hist[:history]]
                if all(r["value"] == 1.0 for r in rows):  # binary implicit feedback: the value says nothing
                    rows = [{k: v for k, v in r.items() if k != "value"} for r in rows]
                shown = f", the latest {len(rows)} shown (--history N)" if len(rows) < len(hist) else ", latest first"
                _print(f"user {user}: {len(hist)} training items{shown}", rows, json_out, "history")
                _print(f"top {len(recs)} for user {user} ({type(task.modules['model']).__name__})", [
                    {"rank": r, "item": data.item_ids[i], "title": data.item_titles[i],
                     "genres": data.item_genres[i], "score": round(s, 4)} for r, (i, s) in enumerate(recs, 1)],
                    json_out, "recommended")
            else:
                if task.kind == "most_popular":
                    raise NnmlError("--item needs item vectors; model=most_popular has none (train als, bpr or mf)")
                i = data.item_index(item)
                sims = task.similar(i, k)
                _print(f"items most similar to {item}: {data.item_titles[i]}", [
                    {"rank": r, "item": data.item_ids[j], "title": data.item_titles[j],
                     "genres": data.item_genres[j], "cosine": round(s, 4)} for r, (j, s) in enumerate(sims, 1)],
                    json_out, "similar")

        run_cli_guarded(job)


def _print(title: str, rows: list[dict], as_json: bool, kind: str) -> None:
    if as_json:
        import json

        for row in rows:
            print(json.dumps({"kind": kind, **row}, default=str, ensure_ascii=False))
        return
    from rich.markup import escape
    from rich.table import Table

    from nnml.tracking.console import make_console

    table = Table(title=escape(title), title_justify="left")
    cols = list(dict.fromkeys(c for r in rows for c in r)) or ["item"]
    for c in cols:
        table.add_column(c, overflow="fold", justify="right" if c in ("rank", "score", "cosine", "value") else "left")
    for r in rows:
        table.add_row(*[escape(str(r.get(c, ""))) for c in cols])
    make_console().print(table)
