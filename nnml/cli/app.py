"""The ``nnml`` command line (Typer): the app, and one module of this package per command, each with
``register(app)``. Train, eval and lab hand their arguments to Hydra, which owns the override grammar (``key=value``,
``-m`` sweeps, ``--cfg job``, ...). Nothing heavy is imported at module level, so ``nnml --help`` answers at once;
torch is imported inside the commands that need it."""

from __future__ import annotations

import typer

from nnml.cli import (
    accelerate,
    board,
    compare,
    diff,
    doctor,
    eval,
    lab,
    lr_find,
    options,
    predict,
    recommend,
    sample,
    summary,
    sweep_plot,
    train,
    tune,
    verify,
)

app = typer.Typer(
    name="nnml",
    help="A command-line experiment runner for neural networks in PyTorch.\n\n"
         "Examples:\n\n"
         "  nnml train                                   # MLP on digits, logged to outputs/\n\n"
         "  nnml train dataset=moons optimizer=sgd optimizer.lr=0.1\n\n"
         "  nnml train -m optimizer=sgd,momentum,adam    # a sweep\n\n"
         "  nnml eval outputs/train/runs/<run> --json\n\n"
         "  nnml verify outputs/train/runs/<run>            # re-run it: do its numbers reproduce?\n\n"
         "  nnml list optimizer                          # options with descriptions\n\n"
         "  nnml board                                   # TensorBoard over outputs/",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# In the order `nnml --help` lists them: training first, then reading runs, then the rest.
for command in (train, lr_find, doctor, eval, predict, summary, accelerate, sample, recommend, compare, diff,
                verify, sweep_plot, tune, lab, options, board):
    command.register(app)


def main() -> None:
    try:
        app()
    except SystemExit as e:
        _exit_now(e.code)
        raise


def _exit_now(code) -> None:
    """End the process without Python's teardown once a command that loaded torch has finished: unloading torch's
    libraries took 1.3-1.4 s after a default ``nnml train`` of 7-8 s (measured: atexit handlers and the garbage
    collector ~0.2 s of it). By then everything nnml writes is closed (atomic files, TensorBoard writers, logs
    flushed here). Skipped while a child process or another non-daemon thread is alive (a normal exit waits for
    those) and when ``NNML_SLOW_EXIT=1``."""
    import os
    import sys
    import threading

    if "torch" not in sys.modules or os.environ.get("NNML_SLOW_EXIT") == "1":
        return
    if any(t is not threading.main_thread() and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return
    try:
        tasks = os.listdir("/proc/self/task")
        if any(open(f"/proc/self/task/{t}/children").read().strip() for t in tasks):
            return
    except OSError:
        return  # not Linux: no way to see child processes cheaply
    import logging

    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # what sys.exit("message") prints
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code or 0)


if __name__ == "__main__":
    main()
