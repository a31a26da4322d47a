"""``nnml list [GROUP]``: every config group and option with its one-line description; the options of a user's own
folder (``-cd DIR``) beside the shipped ones, marked, and a shipped option they replace named."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command(name="list")
    def list_(group: Optional[str] = typer.Argument(None, help="Only this group, e.g. optimizer."),
              config_dir: Optional[Path] = typer.Option(None, "--config-dir", "-cd",
                                                        help="Also list the options in this folder of your own configs "
                                                             "(as given to nnml train -cd DIR).")) -> None:
        """Every config group and its options with a one-line description: nnml list, nnml list optimizer"""
        from rich.table import Table

        from nnml.cli.report import report_error
        from nnml.config.catalog import NOT_TRAIN_GROUPS, all_groups, description, option_files, shadowed, source
        from nnml.errors import bad_choice
        from nnml.tracking.console import make_console, short_path

        if config_dir is not None and not config_dir.is_dir():
            report_error(f"-cd {config_dir}: no such folder; -cd names a folder of your own configs")
            raise typer.Exit(2)
        user_dirs = [config_dir] if config_dir else []
        gs = all_groups(user_dirs)
        if group is not None and group not in gs:
            report_error(str(bad_choice("group", group, gs)))
            raise typer.Exit(2)
        table = Table(title="nnml config groups (choose with group=option)", show_lines=False)
        table.add_column("group", style="bold")
        table.add_column("option", style="cyan")
        table.add_column("description")
        if config_dir:
            table.add_column("from")
        for g in [group] if group else gs:
            extra = [""] if config_dir else []
            if g in NOT_TRAIN_GROUPS:
                table.add_row(g, "", f"(not a train group: {NOT_TRAIN_GROUPS[g]})", *extra)
            replaced = shadowed(g, user_dirs)
            for i, (name, path) in enumerate(option_files(g, user_dirs).items()):
                where = source(path, user_dirs)
                origin = []
                if config_dir:
                    origin = ["shipped" if where == "shipped" else
                              f"yours ({short_path(where)})" + (", replaces the shipped one" if name in replaced else "")]
                table.add_row(g if i == 0 and g not in NOT_TRAIN_GROUPS else "", name, description(path), *origin)
        make_console().print(table)

