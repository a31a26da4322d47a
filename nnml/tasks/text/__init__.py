"""Text (homework 3): text classification, translation and named-entity tagging, with the tokenizers trained on the
train split, the corpora read offline, padded and length-bucketed batches, decoding and the field's metrics."""
