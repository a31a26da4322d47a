"""What the text tasks share for ``nnml predict``: checking inputs, and keeping the tokenizers with the task.

A text task holds the tokenizers its data trained on the train split. It writes them into the run folder
(``tokenizer_<name>.json``) and into checkpoints (its ``state_dict``), so a restored run tokenizes new text with
exactly the vocabulary the model learned, whatever the dataset would build today.
"""

from __future__ import annotations

import json
from pathlib import Path

from nnml.errors import NnmlError
from nnml.tasks.text.tokenizers import from_dict


def check_inputs(inputs: list[str]) -> list[str]:
    """The inputs with surrounding whitespace removed; an empty or whitespace-only one is refused in one line."""
    if not inputs:
        raise NnmlError("nnml predict needs some text: give it as an argument or with --file (one input per line)")
    out = []
    for i, t in enumerate(inputs, 1):
        t = " ".join(str(t).split())
        if not t:
            raise NnmlError(f"input {i} is empty or only whitespace; give some text (with --file, drop blank lines)")
        out.append(t)
    return out


class TokenizerHolder:
    """Mixin: ``self.tokenizers`` (name -> tokenizer), saved to the run folder and to checkpoints."""

    tokenizers: dict = {}

    def set_tokenizers(self, tokenizers: dict, run_dir=None) -> None:
        self.tokenizers = dict(tokenizers)
        if run_dir:
            for name, tok in self.tokenizers.items():
                tok.save(Path(run_dir) / f"tokenizer_{name}.json")

    def tokenizer_state(self) -> dict:
        return {n: json.dumps(t.to_dict(), ensure_ascii=False) for n, t in self.tokenizers.items()}

    def load_tokenizer_state(self, state) -> None:
        if state:
            self.tokenizers = {n: from_dict(json.loads(s)) for n, s in state.items()}
