"""The lecture-1 lab: backprop and optimizers written from their update rules, and the labs that show each topic
(activations, gradcheck, trajectories, uat, collapse). Each lab's ``run(cfg, out_dir) -> (numbers, table)`` takes the
keys of ``configs/lab/<name>.yaml`` and writes its figures and tables into ``out_dir``; ``nnml lab NAME`` runs them
(:mod:`nnml.cli.labs` lists them). The lab depends on torch alone: the runner uses it (``model=scratch_mlp``,
``optimizer=scratch_adam``), never the reverse.
"""
