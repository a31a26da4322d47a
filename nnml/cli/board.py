"""``nnml board``: TensorBoard over a folder of runs, bound to the loopback address unless told otherwise."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import typer

from nnml.errors import NnmlError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start(path: Path, host: str = "127.0.0.1", port: int = 6006) -> str:
    """Start TensorBoard in this process (its server runs in a thread) and return the URL."""
    path = Path(path)
    if not path.exists():
        raise NnmlError(f"{path} does not exist; train a run first (nnml train) or give a folder of runs")
    from tensorboard import default, program

    tb = program.TensorBoard(plugins=plugins_custom_scalars_first(default.get_plugins()))
    tb.configure(argv=[None, "--logdir", str(path), "--host", host, "--port", str(port or free_port(host)),
                       "--reload_interval", "5"])
    try:
        return tb.launch()
    except program.TensorBoardServerException as e:
        raise NnmlError(f"could not start TensorBoard on {host}:{port} ({e}); try --port 0 for a free port") from None


def plugins_custom_scalars_first(plugins: list) -> list:
    """TensorBoard's plugins with Custom Scalars right after the core one: the page opens on the first active
    dashboard, and TensorBoard has no flag to choose it. There a sweep shows each configuration's mean curve with
    its band and every run's loss and monitored metric, instead of the Time Series tab, which opens on the
    single-point hparam/* charts."""
    custom = [p for p in plugins if getattr(p, "__name__", "") == "CustomScalarsPlugin"]
    rest = [p for p in plugins if p not in custom]
    return rest[:1] + custom + rest[1:]


def serve(path: Path, host: str = "127.0.0.1", port: int = 6006) -> None:
    from rich.console import Console

    url = start(path, host, port)
    from rich.markup import escape

    console = Console()
    console.print(f"TensorBoard on [bold cyan]{url}[/bold cyan] over {escape(str(path))} (Ctrl-C to stop)",
                  soft_wrap=True)
    # It opens on Custom Scalars: what a sweep asked, configuration by configuration.
    base = url.rstrip("/")
    console.print(f"  each configuration's mean over seeds with a 95% band, and the loss and the monitored metric of "
                  f"every run: {base}/#custom_scalars", soft_wrap=True, highlight=False)
    console.print(f"  hyperparameters against results: {base}/#hparams", soft_wrap=True, highlight=False)
    console.print(f"  every scalar:                     {base}/#timeseries", soft_wrap=True, highlight=False)
    console.file.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def register(app: typer.Typer) -> None:
    @app.command()
    def board(
        path: Path = typer.Argument(Path("outputs"), help="Folder of runs (default outputs/)."),
        port: int = typer.Option(6006, help="Port; 0 picks a free one."),
        host: str = typer.Option("127.0.0.1", help="Address to bind; 127.0.0.1 keeps it private to this machine."),
    ) -> None:
        """Start TensorBoard over outputs/ (or PATH) and print its URL: nnml board outputs/train/multiruns"""
        from nnml.cli.report import run_cli_guarded

        def job():
            from nnml.cli.board import serve

            serve(path, host=host, port=port)

        run_cli_guarded(job)
