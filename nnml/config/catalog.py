"""What the config folder offers: groups, their options and one-line descriptions, and the keys of each option.
Read from the YAML files as text (no Hydra, no torch), so ``nnml list`` and shell completion answer at once."""

from __future__ import annotations

from pathlib import Path

from nnml.config import config_dir

HIDDEN_GROUPS = ("hydra",)

# Groups that are not chosen with group=option on `nnml train`: who uses them instead.
NOT_TRAIN_GROUPS = {
    "lab": "the labs' own configs: nnml lab NAME key=value",
    "search": "search spaces of nnml tune: nnml tune search=NAME",
    "optimizer_preset": "an optimizer with its own learning rate, used by experiment=compare_optimizers "
                        "(add one to a run with +optimizer_preset=NAME)",
}


def _roots(user_dirs) -> list[str]:
    """The user's folders (``-cd DIR``, given to ``nnml train``/``nnml list``) first, then the shipped configs: an
    option of the user's with the name of a shipped one is the one used (nnml puts the user's folder first on
    Hydra's search path)."""
    return [*(str(Path(d).expanduser().resolve()) for d in user_dirs or ()), config_dir()]


def option_files(group: str, user_dirs=()) -> dict[str, Path]:
    """``option -> YAML file`` of a group: the user's folders' options, then the shipped ones they do not shadow."""
    out: dict[str, Path] = {}
    for root in _roots(user_dirs):
        folder = groups(root).get(group)
        for p in sorted(folder.glob("*.yaml")) if folder else []:
            out.setdefault(p.stem, p)
    return dict(sorted(out.items()))


def shadowed(group: str, user_dirs=()) -> dict[str, Path]:
    """``option -> shipped file`` that a user's option of the same name replaces."""
    shipped = groups().get(group)
    mine = option_files(group, user_dirs)
    return {p.stem: p for p in (sorted(shipped.glob("*.yaml")) if shipped else [])
            if mine.get(p.stem) not in (None, p)}


def all_groups(user_dirs=()) -> list[str]:
    """Group names of the shipped configs and of the user's folders."""
    names = list(groups())
    for root in _roots(user_dirs)[:-1]:
        names += [g for g in groups(root) if g not in names]
    return names


def source(path: Path, user_dirs=()) -> str:
    """``shipped`` or the user's folder that holds ``path``."""
    for root in _roots(user_dirs)[:-1]:
        if str(path).startswith(root + "/"):
            return root
    return "shipped"


def local_option(group: str, option: str, cwd: Path | None = None) -> Path | None:
    """A ``conf/GROUP/OPTION.yaml`` (or ``configs/``) in the folder nnml runs from, for the hint "add -cd conf" when
    an option is not found without ``-cd``."""
    base = Path(cwd or Path.cwd())
    for name in ("conf", "configs", "config"):
        path = base / name / group / f"{option}.yaml"
        if path.is_file():
            return path
    return None


def groups(root: str | None = None) -> dict[str, Path]:
    base = Path(root or config_dir())
    return {p.relative_to(base).as_posix(): p for p in sorted(base.rglob("*")) if p.is_dir()
            and not p.name.startswith("_") and p.relative_to(base).parts[0] not in HIDDEN_GROUPS
            and any(p.glob("*.yaml"))}


def description(path: Path) -> str:
    """The first comment line of a config file (every option starts with one)."""
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("# @package"):
            continue
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line:
            break
    return ""


def options(group: str, root: str | None = None, user_dirs=()) -> dict[str, str]:
    if root is None:
        return {name: description(p) for name, p in option_files(group, user_dirs).items()}
    folder = groups(root).get(group)
    if folder is None:
        return {}
    return {p.stem: description(p) for p in sorted(folder.glob("*.yaml"))}


def option_tasks(group: str, option: str, root: str | None = None) -> list[str] | None:
    """The tasks an option is for, from a ``# tasks: gan, vae`` line among its leading comments; None when the file
    has none (an option of the supervised task, ``task=auto``, or of every task)."""
    folder = groups(root).get(group)
    path = folder / f"{option}.yaml" if folder is not None else None
    if path is None or not path.is_file():
        return None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line.startswith("#"):
            break
        if line.lstrip("#").strip().startswith("tasks:"):
            return [t.strip() for t in line.split("tasks:", 1)[1].split(",") if t.strip()]
    return None


def needs_files(group: str, option: str, root: str | None = None) -> bool:
    """Whether an option's data come from a download or from the user's own files: its file has a ``download``
    key, or a ``root``/``path`` left null. The others (generated data, scikit-learn's and installed packages' bundled
    sets) build offline."""
    folder = groups(root).get(group)
    path = folder / f"{option}.yaml" if folder is not None else None
    if path is None or not path.is_file():
        return False
    for line in path.read_text().splitlines():
        key, _, value = line.partition(":")
        value = value.split("#", 1)[0].strip()
        if not line[:1].isspace() and (key == "download" or (key in ("root", "path") and value in ("null", "~", ""))):
            return True
    return False


def supervised_options(group: str, root: str | None = None) -> list[str]:
    """Options usable with ``task=auto`` (no ``# tasks:`` line, or one that names auto)."""
    return [o for o in options(group, root) if (option_tasks(group, o, root) or ["auto"]).count("auto")]


def option_keys(group: str, option: str, root: str | None = None) -> list[str]:
    """Top-level keys of one option file (for completing ``trainer.<TAB>``)."""
    folder = groups(root).get(group)
    if folder is None or not (folder / f"{option}.yaml").is_file():
        return []
    keys = []
    for line in (folder / f"{option}.yaml").read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith(("#", "-", "_", "defaults")) and ":" in line:
            keys.append(line.split(":", 1)[0].strip())
    return keys


DEFAULT_OPTIONS = {"dataset": "digits", "model": "mlp", "loss": "auto", "optimizer": "adam",
                   "scheduler": "none", "trainer": "default", "logger": "tensorboard"}


def complete_override(incomplete: str, previous: list[str] = ()) -> list[str]:
    """Candidates for one override word: ``grou`` -> ``group=``, ``group=`` -> options, ``group.`` -> keys."""
    chosen = dict(DEFAULT_OPTIONS)
    for word in previous:
        if "=" in word and not word.startswith("-"):
            k, v = word.split("=", 1)
            if k in chosen:
                chosen[k] = v
    gs = groups()
    if "=" in incomplete:
        key, _ = incomplete.split("=", 1)
        key = key.lstrip("+~")
        return [f"{key}={o}" for o in options(key)] if key in gs else []
    if "." in incomplete:
        group = incomplete.split(".", 1)[0]
        if group in gs:
            return [f"{group}.{k}=" for k in option_keys(group, chosen.get(group, ""))
                    if f"{group}.{k}".startswith(incomplete)]
        return []
    top = [f"{g}=" for g in gs if "/" not in g] + [f"{g}." for g in DEFAULT_OPTIONS] + \
          ["seed=", "task_name=", "resume=", "experiment=", "debug="]
    return sorted({c for c in top if c.startswith(incomplete)})
