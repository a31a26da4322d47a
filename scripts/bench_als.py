"""nnml's ALS against implicit's on the same split, factors, regularization, confidence and iterations: fit time
(alternating runs, medians, threads stated) and precision@10 / MAP@10 / NDCG@10 from each library's own
evaluation code.

    python scripts/bench_als.py                                  # MovieLens-100K, 64 factors, 15 iterations, CG
    python scripts/bench_als.py --solver cholesky --repeats 3    # exact solves on both sides
    python scripts/bench_als.py --dataset synthetic_interactions --factors 8

The split is the one ``nnml train experiment=recsys_als`` uses (``--seed 42``, random 80/20, every rating an
interaction). nnml's confidence is c = 1 + alpha * value; implicit's is its input times its alpha, so implicit gets
the values 1 + alpha * value and alpha = 1: both solve the same objective. Timings on a shared machine are noisy:
the runs alternate (implicit, nnml, implicit, ...) and the medians are reported with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit warns (and oversubscribes) otherwise


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="movielens_100k", choices=["movielens_100k", "synthetic_interactions"])
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--iterations", type=int, default=15)
    p.add_argument("--regularization", type=float, default=0.01)
    p.add_argument("--alpha", type=float, default=0.0, help="nnml's alpha (c = 1 + alpha * value)")
    p.add_argument("--solver", default="cg", choices=["cg", "cholesky"])
    p.add_argument("--threads", type=int, default=1, help="torch threads and implicit's num_threads")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()

    import torch
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.evaluation import ranking_metrics_at_k

    from nnml.tasks.recsys.als import ALS
    from nnml.tasks.recsys.metrics import ranking_metrics

    torch.set_num_threads(a.threads)
    if a.dataset == "movielens_100k":
        from nnml.tasks.recsys.movielens import movielens_100k as build
    else:
        from nnml.tasks.recsys.datasets import synthetic_interactions as build
    data = build(seed=a.seed, val_fraction=0.0, test_fraction=0.2)
    nu, ni = data.meta["num_users"], data.meta["num_items"]
    train, test = data.train.to_scipy(), data.test.to_scipy()
    confidence = train.copy()
    confidence.data = 1.0 + a.alpha * confidence.data

    def fit_implicit():
        m = AlternatingLeastSquares(factors=a.factors, regularization=a.regularization, alpha=1.0,
                                    iterations=a.iterations, use_cg=a.solver == "cg", num_threads=a.threads,
                                    random_state=a.seed)
        t = time.perf_counter()
        m.fit(confidence, show_progress=False)
        return time.perf_counter() - t, m

    def fit_nnml():
        torch.manual_seed(a.seed)  # as nnml train does before building the model
        m = ALS(nu, ni, factors=a.factors, regularization=a.regularization, alpha=a.alpha, solver=a.solver).to(a.device)
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        m.prepare(data.train)  # counted: the CSR and blocks are nnml's share of implicit's fit
        for _ in range(a.iterations):
            m.iteration()
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t, m

    fit_implicit(), fit_nnml()  # warm-up: imports, BLAS initialization, allocator
    t_imp, t_nn = [], []
    for _ in range(a.repeats):
        ti, imp = fit_implicit()
        tn, ours = fit_nnml()
        t_imp.append(ti)
        t_nn.append(tn)

    ref = ranking_metrics_at_k(imp, train, test, K=10, show_progress=False, num_threads=1)
    mine = ranking_metrics(ours.scores, data.test.to(a.device).rows("user"), data.train.to(a.device).rows("user"),
                           ks=[10])
    out = {
        "dataset": data.name, "users": nu, "items": ni, "train": len(data.train), "test": len(data.test),
        "factors": a.factors, "iterations": a.iterations, "regularization": a.regularization, "alpha": a.alpha,
        "solver": a.solver, "threads": a.threads, "device": a.device, "repeats": a.repeats,
        "load_average": os.getloadavg()[0],
        "implicit_fit_s_median": statistics.median(t_imp), "nnml_fit_s_median": statistics.median(t_nn),
        "implicit_fit_s": [round(t, 3) for t in t_imp], "nnml_fit_s": [round(t, 3) for t in t_nn],
        "ratio_nnml_over_implicit": statistics.median(t_nn) / statistics.median(t_imp),
        "implicit": {"precision@10": ref["precision"], "map@10": ref["map"], "ndcg@10": ref["ndcg"]},
        "nnml": {k: mine[k] for k in ("precision@10", "map@10", "ndcg@10")},
    }
    if a.json:
        print(json.dumps(out))
        return
    print(f"{out['dataset']}: {nu} users, {ni} items, train {out['train']}, test {out['test']}; "
          f"{a.factors} factors, {a.iterations} iterations, reg {a.regularization}, alpha {a.alpha}, "
          f"solver {a.solver}, {a.threads} thread(s), load average {out['load_average']:.1f}")
    print(f"fit time, median of {a.repeats} alternating runs: implicit {out['implicit_fit_s_median']:.3f} s "
          f"{out['implicit_fit_s']}, nnml {out['nnml_fit_s_median']:.3f} s {out['nnml_fit_s']} "
          f"-> nnml/implicit = {out['ratio_nnml_over_implicit']:.2f}")
    for name in ("precision@10", "map@10", "ndcg@10"):
        print(f"{name:13s} implicit {out['implicit'][name]:.4f}   nnml {out['nnml'][name]:.4f}")


if __name__ == "__main__":
    main()
