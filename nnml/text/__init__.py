"""Text: tokenizers trained on the train split, padded and length-bucketed batches."""
