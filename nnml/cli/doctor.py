"""``nnml doctor RUN`` or ``nnml doctor [OVERRIDES...]``: what went wrong in a run (:mod:`nnml.run.doctor`), each
finding with its evidence, the override to try and the lab that explains it. With overrides (or none) it first
trains a short probe of ``nnml train OVERRIDES`` (``--epochs``, default 10; logging every 5 steps) into a temporary
folder, removed afterwards unless ``--keep`` (then ``outputs/doctor/<time>/``). Exits 0 whatever it finds; ``--json``
prints the report as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def doctor(
        target: Optional[List[str]] = typer.Argument(None, help="A run folder, or train overrides for a probe run."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
        epochs: int = typer.Option(10, "--epochs", help="Probe: epochs to train (unless trainer.max_epochs is given)."),
        keep: bool = typer.Option(False, "--keep", help="Probe: keep its run folder (outputs/doctor/<time>)."),
    ) -> None:
        """Diagnose a run: nnml doctor outputs/train/runs/<run>; nnml doctor model.activation=sigmoid"""
        from nnml.cli.report import run_cli_guarded

        run_cli_guarded(lambda: _doctor(list(target or []), as_json, epochs, keep))


def _doctor(args: list[str], as_json: bool, epochs: int, keep: bool) -> None:
    import shutil

    from nnml.cli.report import print_notes, split_allow
    from nnml.errors import NnmlError
    from nnml.run.doctor import diagnose

    if args and "=" not in args[0] and not args[0].startswith("-"):
        path = Path(args[0])
        if not path.is_dir():
            raise NnmlError(f"nnml doctor {args[0]}: no such run folder; give a folder under outputs/<task>/runs/, "
                            f"or train overrides (key=value) to diagnose a short probe run of them")
        allow, rest = split_allow(args[1:])
        if rest:
            raise NnmlError(f"nnml doctor RUN takes no overrides besides allowed_targets=[...]; got {' '.join(rest)}")
        report = diagnose(path, allow)
        _print(report, as_json)
        return
    if epochs < 1:
        raise NnmlError(f"--epochs {epochs} is not valid; it must be a positive integer")
    folder = _probe(args, epochs, keep, as_json)
    try:
        report = diagnose(folder)
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    if keep:
        from nnml.config.runfolder import RunFolder

        print_notes(RunFolder(folder))
    report.run = f"probe: nnml train {' '.join(args)}".rstrip() + (f" ({folder})" if keep else "")
    _print(report, as_json)


def _probe(args: list[str], epochs: int, keep: bool, as_json: bool) -> Path:
    """Train a short run of ``nnml train ARGS`` whose signals the doctor reads; its folder."""
    import tempfile
    import time

    from omegaconf import OmegaConf, open_dict

    from nnml.cli.checks.precheck import compose_checked
    from nnml.config.runfolder import RunFolder
    from nnml.config.targets import Trust
    from nnml.errors import NnmlError
    from nnml.files import atomic_write_text
    from nnml.run.train import RunContext, train
    from nnml.tracking.console import make_console

    cfg, choices = compose_checked(args, "doctor")
    typed = {a.split("=", 1)[0] for a in args}
    with open_dict(cfg):
        if "trainer.max_epochs" not in typed:
            cfg.trainer.max_epochs = epochs
        if "trainer.log_every_n_steps" not in typed:
            cfg.trainer.log_every_n_steps = 5
        cfg.trainer.layer_stats = True
        cfg.logger = {}
        cfg.keep_run = True
    if keep:
        from nnml.config.resolvers import fresh_dir

        folder = Path(fresh_dir(str(Path("outputs") / "doctor" / time.strftime("%Y-%m-%d_%H-%M-%S"))))
    else:
        folder = Path(tempfile.mkdtemp(prefix="nnml-doctor-"))
    hydra = folder / ".hydra"
    hydra.mkdir(parents=True, exist_ok=True)
    atomic_write_text(hydra / "config.yaml", OmegaConf.to_yaml(cfg))
    atomic_write_text(hydra / "overrides.yaml", OmegaConf.to_yaml(OmegaConf.create(list(args))))
    make_console(stderr=True).print(f"probe: {int(cfg.trainer.max_epochs)} epochs of nnml train {' '.join(args)}",
                                    highlight=False, markup=False, soft_wrap=True)
    import logging

    quiet = logging.NullHandler()  # the probe's warnings are the doctor's to report, not Python's last-resort handler's
    logging.getLogger("nnml").addHandler(quiet)
    try:
        train(cfg, RunContext(run_dir=folder, trust=Trust.own(cfg), choices=choices, overrides=list(args)),
              quiet=True)
    except NnmlError as e:  # a probe that fails (a NaN loss) is evidence too: error.txt says how
        RunFolder(folder).write_error(str(e))
    finally:
        logging.getLogger("nnml").removeHandler(quiet)
    return folder


def _print(report, as_json: bool) -> None:
    import json

    from nnml.tracking.console import make_console

    console = make_console(stderr=as_json)
    n = len(report.findings)
    console.print(f"[bold]nnml doctor[/bold]  {report.run}  ({report.status}): "
                  f"{n} finding{'s' if n != 1 else ''}", highlight=False, soft_wrap=True)
    for i, f in enumerate(report.findings, 1):
        console.print(f"\n[bold yellow]{i}. {f.title}[/bold yellow]", highlight=False)
        console.print(f"   evidence: {f.evidence}", highlight=False, markup=False, soft_wrap=True)
        for j, t in enumerate(f.try_):
            console.print(f"   {'try:     ' if j == 0 else '     or: '} {t}", highlight=False, markup=False,
                          soft_wrap=True)
        if f.lab:
            console.print(f"   lab:      {f.lab}", highlight=False, markup=False, soft_wrap=True)
    console.print("")
    if report.checked:
        console.print(f"checked, nothing found: {', '.join(report.checked)}", highlight=False, soft_wrap=True)
    for check, why in report.not_checked.items():
        console.print(f"not checked: {check} ({why})", highlight=False, markup=False, soft_wrap=True)
    if as_json:
        print(json.dumps(report.as_dict()))
