"""Recommender systems: interaction data, ALS and its rivals, ranking metrics."""
