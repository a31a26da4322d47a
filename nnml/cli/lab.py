"""``nnml lab NAME``: the lecture-1 labs, each a Hydra app with its own config (configs/lab/NAME.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

HYDRA_CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def register(app: typer.Typer) -> None:
    @app.command(context_settings=HYDRA_CONTEXT, add_help_option=False)
    def lab(
        name: Optional[str] = typer.Argument(None, help="activations, gradcheck, trajectories, uat or collapse."),
        overrides: Optional[List[str]] = typer.Argument(None, show_default=False,
                                                        help="The lab's keys as overrides, e.g. target=step."),
    ) -> None:
        """Lecture-1 labs: nnml lab activations; nnml lab trajectories function=beale; nnml lab uat target=step.

        Results (figures, CSV tables, TensorBoard) go to outputs/lab/NAME/<time>; --json prints the numbers as JSON.
        nnml lab NAME --cfg job shows a lab's keys.
        """
        from nnml.cli.report import run_cli_guarded

        args = list(overrides or [])
        if name is not None and name.startswith("-") and name not in ("--help", "-h"):
            # a flag before the lab's name (nnml lab --json uat): the first word that is not a flag is the name
            words = [a for a in args if not a.startswith("-")]
            args = [name, *[a for a in args if a not in words[:1]]]
            name = words[0] if words else None
        if name is None or name in ("--help", "-h"):  # help_option_names is empty so that Hydra sees its own flags
            run_cli_guarded(lambda: typer.echo(_lab_help()))
            return
        if "--help" in args or "-h" in args:
            run_cli_guarded(lambda: typer.echo(_lab_keys_help(name)))
            return
        as_json = "--json" in args
        args = [a for a in args if a != "--json"]
        from nnml.cli.checks.precheck import split_hydra_flags

        flags, rest = split_hydra_flags(args)

        def job():
            from nnml.cli.labs import check_override_keys

            check_override_keys(name, rest)  # one line naming the lab's keys, not Hydra's multi-line message
            run_lab_command(name, as_json, flags, rest)

        run_cli_guarded(job)


def _lab_help() -> str:
    from nnml.cli.labs import LABS, lab_summary

    lines = ["Usage: nnml lab NAME [--json] [KEY=VALUE ...]", "",
             "Lecture-1 labs; results (figures, CSV, TensorBoard, results.json) go to outputs/lab/NAME/<time>.",
             "--json prints the numbers as JSON; nnml lab NAME --help lists a lab's keys.", "", "Labs:"]
    for lab_name in LABS:
        description, example = lab_summary(lab_name)
        lines += [f"  {lab_name:<13} {description}", f"  {'':<13} e.g. {example}"]
    return "\n".join(lines)


def _lab_keys_help(name: str) -> str:
    from nnml.cli.labs import lab_config_file

    text = lab_config_file(name).read_text()
    body = "\n".join(line for line in text.splitlines() if "@package" not in line)
    return f"Usage: nnml lab {name} [--json] [KEY=VALUE ...]\n\nKeys and defaults (configs/lab/{name}.yaml):\n{body}"


def run_lab_command(name: str, as_json: bool, flags: list[str], rest: list[str]) -> None:
    """A lab in a folder this command claims first (outputs/lab/NAME/<time>); a value the lab refuses once it
    started (exit 2) leaves no folder behind. A lab sweep (-m) names its folders through Hydra."""
    import time

    from nnml.cli.claim import Claimed
    from nnml.cli.claim import hydra_str as _hydra_str
    from nnml.cli.entry import call_hydra, lab_app, lab_hydra_overrides
    from nnml.config.resolvers import fresh_dir, missing_parents

    overrides = lab_hydra_overrides(name)
    claimed = None
    if not any(f in ("-m", "--multirun") for f in flags) and not any(a.startswith("hydra.run.dir=") for a in rest):
        target = Path("outputs") / "lab" / name / time.strftime("%Y-%m-%d_%H-%M-%S")
        parents = missing_parents(target)
        path = Path(fresh_dir(str(target)))
        claimed = Claimed(path.absolute(), [path, *parents])
        overrides = [o for o in overrides if not o.startswith("hydra.run.dir=")] + [
            f"hydra.run.dir={_hydra_str(claimed.path)}"]
    try:
        call_hydra(lab_app(name, as_json), f"nnml lab {name}", [*flags, *overrides, *rest])
    except (SystemExit, KeyboardInterrupt):
        if claimed is not None:
            claimed.remove_if_unused()
        raise
