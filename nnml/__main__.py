"""``python -m nnml``: the same CLI as the ``nnml`` console script (used by torchrun and tests)."""

from nnml.cli import main

if __name__ == "__main__":
    main()
