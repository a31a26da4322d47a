"""Runs grouped into configurations: every run of a sweep whose hyperparameters differ only in ``seed`` is one
replicate of the same configuration. One row per configuration with ``n``, the mean, the standard deviation and
the 95% t interval of each metric over its seeds, ranked by the mean; each configuration is then tested against
the best one (:func:`nnml.stats.indistinguishable_from_best`: Welch's test, Holm-adjusted): ``best``,
``indistinguishable``, ``worse``, or ``untested`` (fewer than two seeds on a side). The sweep summary,
``nnml compare`` on a seed sweep and ``nnml tune --repeats`` read their tables from here.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from nnml import stats
from nnml.sweep import runs as R

#: config keys whose values are replicates of one configuration, not configurations of their own
REPLICATE_KEYS = ("seed",)
FINISHED = ("ok", "pruned")
STATUS_STYLE = {"best": "bold green", "indistinguishable": "green", "worse": "red", "untested": "dim"}


@dataclass
class Group:
    values: dict                                  # hyperparameter -> value, as the runs' table shows it
    runs: list = field(default_factory=list)      # every run of the configuration, finished or not

    @property
    def finished(self) -> list:
        return [r for r in self.runs if r.status in FINISHED]


def config_columns(runs: list) -> list[str]:
    """The hyperparameters that tell configurations apart: those that differ, but the seed."""
    return [k for k in R.differing_keys(runs) if k not in REPLICATE_KEYS]


def group(runs: list, hparams: list[str]) -> list[Group]:
    """The runs by their values of ``hparams``, configurations in the order their first run comes."""
    names = {g for r in runs for g in r.choices}
    out: dict[str, Group] = {}
    for r in runs:
        values = {k: R.value_of(r, k, names) for k in hparams}
        key = json.dumps(values, sort_keys=True, default=str)
        out.setdefault(key, Group(values)).runs.append(r)
    return list(out.values())


def replicated(groups: list[Group]) -> bool:
    """Some configuration ran with several seeds."""
    return any(len(g.finished) > 1 for g in groups)


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def values_of(g: Group, metric: str) -> list[float]:
    return [float(r.metrics[metric]) for r in g.finished if is_number(r.metrics.get(metric))]


def seed_of(run) -> int | None:
    seed = run.config.get("seed")
    return int(seed) if isinstance(seed, int) and not isinstance(seed, bool) else None


def rows(groups: list[Group], hparams: list[str], metrics: list[str], runs: list | None = None,
         order: str = "auto") -> list[dict]:
    """One row per configuration with at least one finished run, best mean of ``metrics[0]`` first (ties: the
    lower mean loss of its split): ``rank``, the hparams, ``n``, then per metric ``<m>_mean``, ``<m>_std``,
    ``<m>_ci_low``, ``<m>_ci_high`` (the 95% t interval of the mean over seeds), ``<m>_vs_best`` and
    ``<m>_p_holm``, then ``seeds`` and ``runs`` (the job folders)."""
    runs = runs if runs is not None else [r for g in groups for r in g.runs]
    kept = [g for g in groups if g.finished]
    status: dict[str, dict[int, dict]] = {}
    for m in metrics:
        have = {i: values_of(g, m) for i, g in enumerate(kept) if values_of(g, m)}
        if have:
            best = stats.indistinguishable_from_best(have, R.metric_mode(m, runs))
            status[m] = {row["config"]: row for row in best}
    out = []
    for i, g in enumerate(kept):
        row: dict = {"rank": 0, **g.values, "n": len(g.finished)}
        for m in metrics:
            vals = values_of(g, m)
            t = stats.t_interval(vals) if vals else {}
            row[f"{m}_mean"] = t.get("mean")
            row[f"{m}_std"] = t.get("std")
            row[f"{m}_ci_low"] = t.get("ci_low")
            row[f"{m}_ci_high"] = t.get("ci_high")
            s = status.get(m, {}).get(i, {})
            row[f"{m}_vs_best"] = s.get("status")
            row[f"{m}_p_holm"] = s.get("p_holm")
        seeds = [seed_of(r) for r in g.finished]
        row["seeds"] = " ".join(str(s) for s in seeds if s is not None)
        row["runs"] = " ".join(r.name for r in g.finished)
        out.append(row)
    out = rank(out, metrics[0], runs, order)
    return [{**r, "rank": i} for i, r in enumerate(out, 1)]


def rank(table_rows: list[dict], metric: str, runs: list, order: str = "auto") -> list[dict]:
    if order not in ("auto", "desc", "asc"):
        from nnml.errors import bad_choice

        raise bad_choice("--sort", order, ("asc", "auto", "desc"))
    desc = R.metric_mode(metric, runs) == "max" if order == "auto" else order == "desc"
    tie = metric.split("/")[0] + "/loss"

    def key(r):
        v = r.get(f"{metric}_mean")
        if not is_number(v):
            return (1, 0, 0)
        t = r.get(f"{tie}_mean")
        return (0, -v if desc else v, t if is_number(t) and tie != metric else 0)

    return sorted(table_rows, key=key)


def failures(groups: list[Group]) -> list[dict]:
    """The runs that did not finish, as the per-run table lists them (status, run, error)."""
    out = []
    for g in groups:
        for r in g.runs:
            if r.status not in FINISHED:
                row = {"status": r.status, "run": r.name}
                if r.error:
                    row["error"] = r.error
                out.append(row)
    return out


# ---------------------------------------------------------------------------------------------- the table
def _decimals(values) -> int:
    floats = [abs(v) for v in values if is_number(v)]
    if not floats or not all(v == 0 or 1e-3 <= v < 1e5 for v in floats):
        return -1
    return max(len(f"{v:.4f}".rstrip("0").split(".")[1]) for v in floats)


def _num(v, d: int) -> str:
    if not is_number(v):
        return ""
    return f"{v:.{d}f}" if d >= 0 else f"{v:.3g}"


def cells(table_rows: list[dict], hparams: list[str], metrics: list[str],
          show_runs: bool = False) -> tuple[list[str], list[list[str]]]:
    """Column headers and text cells of the rows: ``mean ± std`` and ``[low, high]`` per metric, its status
    against the best, ``n`` when some configuration has several runs (plain values otherwise); ``show_runs``:
    the run folders last."""
    many = any((r.get("n") or 0) > 1 for r in table_rows)
    tested = {m for m in metrics if any(r.get(f"{m}_vs_best") not in (None, "untested", "best")
                                        for r in table_rows)}
    headers = ["rank", *hparams] + (["n"] if many else [])
    for m in metrics:
        headers += [m] + ([f"{m} 95% CI"] if many else []) + ([f"{m} vs best"] if m in tested else [])
    body = []
    for r in table_rows:
        line = [str(r["rank"]), *(R.fmt(r.get(k)) for k in hparams)] + ([str(r.get("n"))] if many else [])
        for m in metrics:
            d = _decimals([x.get(f"{m}_mean") for x in table_rows] + [x.get(f"{m}_std") for x in table_rows])
            mean, std = r.get(f"{m}_mean"), r.get(f"{m}_std")
            line.append(_num(mean, d) + (f" ± {_num(std, d)}" if is_number(std) else ""))
            if many:
                lo, hi = r.get(f"{m}_ci_low"), r.get(f"{m}_ci_high")
                line.append(f"[{_num(lo, d)}, {_num(hi, d)}]" if is_number(lo) else "")
            if m in tested:
                line.append(r.get(f"{m}_vs_best") or "")
        if show_runs:
            line.append(str(r.get("runs") or ""))
        body.append(line)
    return headers + (["runs" if many else "run"] if show_runs else []), body


def rich_table(table_rows: list[dict], hparams: list[str], metrics: list[str], title: str = "",
               width: int | None = None, caption: str | None = None, show_runs: bool = False):
    """The configurations as a rich Table; hyperparameter columns that do not fit ``width`` are left out (named
    in the caption), the results never."""
    from rich.markup import escape
    from rich.table import Table

    headers, body = cells(table_rows, hparams, metrics, show_runs)
    keep = list(range(len(headers)))
    left_out = []
    if width:
        need = [3 + max([len(h)] + [len(b[i]) for b in body]) for i, h in enumerate(headers)]
        if 1 + sum(need) > width:
            fixed = [i for i, h in enumerate(headers) if h not in hparams]
            used = 1 + sum(need[i] for i in fixed)
            keep = []
            for i, h in enumerate(headers):
                if h in hparams:
                    if used + need[i] > width:
                        left_out.append(h)
                        continue
                    used += need[i]
                keep.append(i)
    notes = [caption] if caption else []
    if left_out:
        notes.append(f"not shown, for width: {', '.join(left_out)} (summary.csv has every column)")
    table = Table(title=title or None, caption="\n".join(notes) or None, caption_justify="left")
    for i in keep:
        h = headers[i]
        table.add_column(h, justify="left" if h in hparams or h.endswith("vs best") else "right", overflow="fold",
                         min_width=len(h))
    for b in body:
        row = []
        for i in keep:
            text = escape(b[i])
            style = STATUS_STYLE.get(b[i]) if headers[i].endswith("vs best") else None
            row.append(f"[{style}]{text}[/]" if style and text else text)
        table.add_row(*row)
    return table


def caption(table_rows: list[dict], metrics: list[str]) -> str | None:
    """What ± and the interval and 'vs best' mean, when the table shows them."""
    if not any((r.get("n") or 0) > 1 for r in table_rows):
        return None
    return ("mean ± std over seeds; 95% CI: Student t interval of the mean; vs best: Welch's t test against the "
            "best configuration's seeds, Holm-adjusted over the configurations (alpha 0.05): indistinguishable = "
            "within seed noise")


def markdown(table_rows: list[dict], hparams: list[str], metrics: list[str]) -> str:
    """The configurations' table as printed (mean ± std, interval, status), in Markdown."""
    if not table_rows:
        return ""
    headers, body = cells(table_rows, hparams, metrics)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in b) + " |" for b in body]
    note = caption(table_rows, metrics)
    return "\n".join(lines) + "\n" + (f"\n{note}.\n" if note else "")
