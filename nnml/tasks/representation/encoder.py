"""Encoders: any classifier model config with its classifier head dropped, and encoders reused from a
pretraining run.

:func:`strip_head` turns a model (``model=mlp``, ``cnn``, ``cnn1d`` or a student's own) into an encoder by replacing
its last registered ``nn.Linear`` (the classifier) with the identity; a model that defines ``encode(x)`` is used
through that instead. The embedding size is found by running a dummy input through it.

:class:`PretrainedClassifier` (``model=pretrained``) is a downstream classifier: the encoder of a pretraining run
(``task=contrastive`` or ``task=autoencoder``), rebuilt from that run's saved config and best checkpoint, plus a
new head; frozen or fine-tuned with its own learning rate::

    nnml train model=pretrained model.encoder=outputs/train/runs/<simclr run> dataset=mnist1d
    nnml train model=pretrained model.encoder=<run> model.freeze=true          # a linear probe trained by SGD
    nnml train model=pretrained model.encoder=<run> model.init=scratch         # same network, random weights
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from nnml.config.targets import import_object, instantiate
from nnml.errors import NnmlError, bad_choice

#: tasks whose runs hold a reusable encoder (module "encoder" in their checkpoints)
PRETRAINING_TASKS = ("nnml.tasks.representation.contrastive.", "nnml.tasks.representation.autoencoder.")


class Encoder(nn.Module):
    """A model without its classifier: ``forward(x)`` gives (N, out_dim) embeddings."""

    def __init__(self, body: nn.Module, input_shape, use_encode: bool = False):
        super().__init__()
        self.body = body
        self.use_encode = use_encode
        self.input_shape = tuple(int(s) for s in input_shape)
        self.out_dim = self._probe_dim()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body.encode(x) if self.use_encode else self.body(x)
        return out.flatten(1)

    @torch.no_grad()
    def _probe_dim(self) -> int:
        was = self.training
        self.eval()  # batch norm with a batch of 2 zeros is fine in eval mode
        try:
            p = next(self.body.parameters(), None)
            dummy = torch.zeros(2, *self.input_shape, device=p.device if p is not None else "cpu")
            return int(self.forward(dummy).shape[1])
        finally:
            self.train(was)


def strip_head(model: nn.Module, input_shape, name: str = "model") -> Encoder:
    """``model`` as an :class:`Encoder`: its ``encode`` method, or everything up to its last ``nn.Linear``."""
    if callable(getattr(model, "encode", None)):
        return Encoder(model, input_shape, use_encode=True)
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise NnmlError(f"{name} ({type(model).__name__}) has no nn.Linear classifier to drop and no encode(x) "
                        f"method, so it cannot be used as an encoder; end it with an nn.Linear head or define encode")
    parent_name, _, attr = linears[-1].rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    if not parent_name and not attr:  # the model is itself one nn.Linear
        parent, attr = None, None
    else:
        setattr(parent, attr, nn.Identity())
    if parent is None or not any(True for _ in model.parameters()):
        raise NnmlError(f"{name} ({type(model).__name__}) is a single linear layer: nothing is left once its head "
                        f"is dropped; use model=mlp, cnn or cnn1d as the encoder")
    return Encoder(model, input_shape)


# ---------------------------------------------------------------------------------------------- reuse
def _run_config(run_dir, key: str, allow=()):
    """(config, trust, folder) of a pretraining run, read back as data (the trust rule: nnml/config/runfolder.py)."""
    from omegaconf import OmegaConf

    from nnml.config.runfolder import RunFolder

    folder = RunFolder(run_dir, role=key).require(
        "give a pretraining run's folder (outputs/train/runs/<run>, trained with task=contrastive or task=autoencoder)")
    cfg, trust = folder.load_config(allow=allow)
    target = str(OmegaConf.select(cfg, "task._target_", default="") or "")
    if not target.startswith(PRETRAINING_TASKS):
        kind = target.rsplit(".", 1)[-1] or "supervised"
        raise NnmlError(f"{key}={run_dir} is a {kind} run, not a pretraining run; give a run trained with "
                        f"task=contrastive or task=autoencoder")
    return cfg, trust, folder


def load_encoder(run_dir, key: str = "model.encoder", checkpoint: str = "best", weights: bool = True,
                 allow=()) -> tuple[Encoder, dict]:
    """The encoder of a pretraining run, rebuilt from its config and ``checkpoint`` (``best`` or ``last``), on the
    CPU, and what the run says about it (``input_shape``, ``dataset``, ``task``). ``weights=False``: the same
    network at a fresh random initialisation (the from-scratch control). ``allow``: module prefixes of the user's
    own code named on this command line (the run folder's own list is not trusted)."""
    from nnml.engine.checkpoint import load_checkpoint

    cfg, trust, folder = _run_config(run_dir, key, allow)
    _refuse_cycle(run_dir, cfg.model, key)
    ckpt_path = folder.checkpoints / f"{checkpoint}.pt"
    if not ckpt_path.is_file():
        raise NnmlError(f"{key}={run_dir} has no checkpoints/{checkpoint}.pt: the run did not finish its first "
                        f"epoch; train it again or give another run")
    ckpt = load_checkpoint(ckpt_path)
    facts = _encoder_facts(ckpt, ckpt_path)
    model = instantiate(cfg.model, key=f"{key} (the run's model)", trust=trust, **_accepted(cfg.model, facts, trust))
    encoder = strip_head(model, facts["input_shape"], name=f"the model of {run_dir}")
    if weights:
        state = _module_state(ckpt, "encoder", ckpt_path)
        try:
            encoder.load_state_dict(state)
        except RuntimeError as e:
            raise NnmlError(f"{key}={run_dir}: the checkpoint's encoder does not fit the run's model config "
                            f"({str(e).splitlines()[0][:160]})") from None
    info = {"input_shape": tuple(facts["input_shape"]), "dataset": facts.get("dataset", ""),
            "task": str(cfg.task._target_), "out_dim": encoder.out_dim}
    return encoder, info


# Folders followed when looking for a chain of encoders that comes back; a longer chain is left to the nested loads
# (each of which looks again from its own folder).
MAX_ENCODER_CHAIN = 32


def _refuse_cycle(run_dir, model_node, key: str) -> None:
    """A run whose model is itself built on a pretrained encoder names another folder, and so on; a chain that
    comes back to a folder it passed would be read for ever (before this check only Python's recursion limit ended
    it, after seconds of rereading the same folder). Followed as data (each folder's saved config, unresolved): a
    folder that cannot be read here is left to the nested load, which says why."""
    from omegaconf import OmegaConf

    from nnml.config.runfolder import RunFolder

    chain = [Path(run_dir).expanduser().resolve()]
    node = OmegaConf.to_container(model_node, resolve=False) if OmegaConf.is_config(model_node) else model_node
    for _ in range(MAX_ENCODER_CHAIN):
        nxt = node.get("encoder") if isinstance(node, dict) else None
        if not isinstance(nxt, str) or not nxt:
            return
        path = Path(nxt).expanduser().resolve()
        if path in chain:
            route = " -> ".join(str(p) for p in [*chain, path])
            raise NnmlError(f"{key}={run_dir}: its model is built on a pretrained encoder that leads back to a folder "
                            f"already on the way ({route}); give a pretraining run whose model is a plain network")
        chain.append(path)
        try:
            node = RunFolder(path).raw_config().get("model")
        except (NnmlError, OSError):
            return


def _encoder_facts(ckpt: dict, path: Path) -> dict:
    state = ckpt.get("task") or ckpt.get("task_state") or {}
    facts = state.get("encoder_facts") if isinstance(state, dict) else None
    if not facts:
        raise NnmlError(f"checkpoint {path} holds no encoder facts (task state 'encoder_facts'); it was not "
                        f"written by task=contrastive or task=autoencoder")
    return dict(facts)


def _module_state(ckpt: dict, name: str, path: Path) -> dict:
    modules = ckpt.get("modules")
    if isinstance(modules, dict) and name in modules:
        return modules[name]
    raise NnmlError(f"checkpoint {path} holds no '{name}' module; it was not written by a pretraining task")


def _accepted(node, facts: dict, trust) -> dict:
    """The facts the model's constructor takes, by name (as the builder passes them)."""
    import inspect

    try:
        params = inspect.signature(import_object(str(node._target_), trust)).parameters
    except Exception:
        return {}
    keep = {k: v for k, v in facts.items() if k in params and k not in node}
    if "input_shape" in keep:
        keep["input_shape"] = tuple(keep["input_shape"])
    return keep


class PretrainedClassifier(nn.Module):
    """An encoder (from ``encoder``, a pretraining run's folder) and a new head for the downstream task.

    - ``init``: ``pretrained`` (the run's best weights) or ``scratch`` (the same network, randomly initialised:
      the control of a label-efficiency comparison);
    - ``freeze``: keep the encoder's weights fixed (batch norm statistics too) and train the head only;
    - ``encoder_lr``: the encoder's learning rate as a multiple of the optimizer's (``param_groups``; 0 freezes);
    - ``head_norm``: batch norm without affine parameters between the encoder and the head (standardized
      embeddings, as the probe sees them);
    - ``head``: null for ``nn.Linear(embedding size, classes)``, or a module config whose ``in_features`` and
      ``out_features`` are filled in when left out (``{_target_: torch.nn.Linear}``), or ``hidden`` sizes of an
      MLP head (``head_hidden: [128]``);
    - ``allow`` (given by the builder): the module prefixes of the user's own code named on this command line, the
      only code the encoder's run folder may name besides nnml's and torch's registered parts.
    """

    def __init__(self, input_shape, num_outputs: int, encoder: str | None = None, init: str = "pretrained",
                 freeze: bool = False, encoder_lr: float = 1.0, head=None, head_hidden=(), head_norm: bool = True,
                 checkpoint: str = "best", allow=()):
        super().__init__()
        if init not in ("pretrained", "scratch"):
            raise bad_choice("model.init", init, ["pretrained", "scratch"])
        if not encoder:
            raise NnmlError("model.encoder is not set; give a pretraining run's folder: model.encoder=outputs/train/"
                            "runs/<run> (a run of task=contrastive or task=autoencoder)")
        if float(encoder_lr) < 0:
            raise NnmlError(f"model.encoder_lr={encoder_lr} is not valid; choose a multiple of the learning rate >= 0")
        enc, info = load_encoder(encoder, weights=init == "pretrained", checkpoint=checkpoint, allow=allow)
        if tuple(input_shape) != info["input_shape"]:
            raise NnmlError(f"model.encoder={encoder} was pretrained on inputs of shape {info['input_shape']}; this "
                            f"dataset gives {tuple(input_shape)}: use the pretraining run's dataset")
        self.encoder = enc
        self.freeze = bool(freeze) or float(encoder_lr) == 0
        self.encoder_lr = float(encoder_lr)
        self.head = _build_head(head, head_hidden, enc.out_dim, num_outputs, encoder)
        # A pretrained encoder's outputs have no particular scale (SimCLR's projector starts with batch norm, which
        # undoes any); batch norm without affine parameters standardizes them for the new head, as the linear
        # probe does (and as MAE's linear probing does).
        self.norm = nn.BatchNorm1d(enc.out_dim, affine=False) if head_norm else nn.Identity()
        if self.freeze:
            for p in self.encoder.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze:
            self.encoder.eval()  # a frozen encoder keeps its batch norm statistics and no dropout
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.freeze:
            with torch.no_grad():
                z = self.encoder(x)
        else:
            z = self.encoder(x)
        return self.head(self.norm(z))

    def param_groups(self, lr: float | None = None) -> list[dict]:
        """Optimizer parameter groups: the head at ``lr``, the encoder at ``encoder_lr * lr`` (none when frozen).
        Without ``lr`` (``task=auto`` does not pass one) both take the optimizer's own, so ``encoder_lr`` must be 1."""
        if lr is None and self.encoder_lr != 1 and not self.freeze:
            raise NnmlError(f"model.encoder_lr={self.encoder_lr:g} needs task=finetune (it knows optimizer.lr); "
                            f"task=auto trains the encoder at optimizer.lr")
        head = {"params": list(self.head.parameters()), "name": "head"}
        encoder = {"params": list(self.encoder.parameters()), "name": "encoder"}
        if lr is not None:
            head["lr"], encoder["lr"] = lr, lr * self.encoder_lr
        return [head] if self.freeze else [head, encoder]


def _build_head(head, hidden, in_dim: int, num_outputs: int, encoder) -> nn.Module:
    if head is None:
        layers: list[nn.Module] = []
        width = in_dim
        for h in ([hidden] if isinstance(hidden, int) else list(hidden or [])):
            layers += [nn.Linear(width, int(h)), nn.ReLU()]
            width = int(h)
        layers.append(nn.Linear(width, num_outputs))
        return nn.Sequential(*layers) if len(layers) > 1 else layers[0]
    from omegaconf import OmegaConf

    if isinstance(head, nn.Module):
        return head
    node = OmegaConf.create(OmegaConf.to_container(OmegaConf.create(head), resolve=True))
    given = node.get("in_features")
    if given is not None and int(given) != in_dim:
        raise NnmlError(f"model.head.in_features={given} does not fit the encoder of {encoder}, whose embeddings "
                        f"have {in_dim} features; set model.head.in_features={in_dim} or leave it out")
    extra = {}
    if "in_features" not in node:
        extra["in_features"] = in_dim
    if "out_features" not in node:
        extra["out_features"] = num_outputs
    from nnml.config.targets import Trust

    # The head is part of the model config, whose targets were checked at every depth when the model was built.
    module = instantiate(node, key="model.head", trust=Trust.own(node), **extra)
    with torch.no_grad():
        try:
            out = module(torch.zeros(2, in_dim))
        except RuntimeError as e:
            raise NnmlError(f"model.head does not fit the encoder of {encoder}, whose embeddings have {in_dim} "
                            f"features ({str(e).splitlines()[0][:120]})") from None
    if out.dim() != 2 or out.shape[1] != num_outputs:
        raise NnmlError(f"model.head gives outputs of shape {tuple(out.shape[1:])}; the dataset has {num_outputs} "
                        f"classes")
    return module

