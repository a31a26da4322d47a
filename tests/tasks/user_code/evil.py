"""A module a copied run folder's config names but the run was never started with: importing it leaves a marker."""

from pathlib import Path

Path("evil_was_imported.txt").write_text("imported")


class Model:
    def __init__(self, *args, **kwargs):
        pass
