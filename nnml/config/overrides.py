"""Overrides in Hydra's grammar applied outside a Hydra composition: parsed with Hydra's own parser (one line
naming the override that does not parse), and ``key=value`` applied to a config read back from a run folder, with a
close match for a key it lacks. Used by the checks before a run, resume, eval and tune."""

from __future__ import annotations

from nnml.errors import NnmlError, did_you_mean

ABSENT = object()


def parse_overrides(overrides: list[str]) -> list:
    """Hydra's parse of each override, with a one-line message naming the one that does not parse."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    out = []
    for text in overrides:
        try:
            out.extend(parser.parse_overrides([text]))
        except OverrideParseException as e:
            if "=" not in text:
                from nnml.config.catalog import groups

                listing = f"nnml list {text} shows its options" if text in groups() else "nnml list shows the groups"
                raise NnmlError(f"'{text}' is not an override; write key=value (e.g. trainer.max_epochs=3) or "
                                f"group=option (e.g. optimizer=sgd); {listing}") from None
            reason = str(e).strip().splitlines()[0]
            raise NnmlError(f"'{text}' is not a valid override ({reason}); quote values with spaces or brackets, "
                            f"e.g. 'model.hidden=[64,64]'") from None
    return out


def flat_keys(node, prefix: str = "") -> list[str]:
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            name = f"{prefix}.{k}" if prefix else str(k)
            out.append(name)
            out.extend(flat_keys(v, name))
    return out


def override_value(v) -> str:
    """``v`` written in Hydra's override grammar."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(override_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{override_value(x)}" for k, x in v.items()) + "}"
    text = str(v)
    return text if text.replace("_", "").replace(".", "").replace("/", "").isalnum() else "'" + text.replace(
        "'", "\\'") + "'"


def apply_key_overrides(cfg, overrides: list[str], source: str):
    """Apply ``key=value`` overrides (Hydra's grammar: lists, numbers, null) to a config read from ``source``;
    a key the config lacks is refused with a close match unless written ``+key=value``."""
    from omegaconf import OmegaConf

    keys = flat_keys(OmegaConf.to_container(cfg, resolve=False))
    for ov in parse_overrides(list(overrides)):
        key = ov.key_or_group
        if OmegaConf.is_dict(OmegaConf.select(cfg, key, default=None)) and not OmegaConf.is_dict(ov.value()):
            raise NnmlError(f"{key}={ov.value()}: {key} is a whole config group of {source}, which is evaluated with "
                            f"the options it was trained with; override its keys ({key}.<key>=...) instead")
        if OmegaConf.select(cfg, key, default=ABSENT) is ABSENT and not ov.is_add():
            raise NnmlError(f"{key}={ov.value()}: {source} has no key {key}{did_you_mean(key, keys)} (to add a new "
                            f"key on purpose write +{key}=...)")
        OmegaConf.update(cfg, key, ov.value(), merge=True, force_add=ov.is_add())
    return cfg


