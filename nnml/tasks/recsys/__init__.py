"""Recommender systems (homework 6): interaction data (synthetic, MovieLens), ALS and its gradient-trained rivals,
splits, ranking metrics and figures."""
