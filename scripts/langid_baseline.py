"""The TF-IDF baseline of language ID on nnml's split: character 1-3-grams, logistic regression (scikit-learn).

    python scripts/langid_baseline.py [SEED] [keep]     # keep: dataset.drop_ambiguous=false

Prints the test accuracy on exactly the split ``dataset=langid`` makes with that seed (train+val fit, test scored,
as a neural model's test accuracy is).
"""

import sys

import numpy as np


def main(seed: int = 42, drop_ambiguous: bool = True) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from nnml.tasks.text.langid import langid_corpus, split_indices

    texts, labels = langid_corpus(drop_ambiguous=drop_ambiguous)
    y = np.asarray(labels)
    train, val, test = split_indices(y, seed, 0.1, 0.1)
    fit = np.concatenate([train, val])
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3))
    xf = vec.fit_transform([texts[i] for i in fit])
    clf = LogisticRegression(max_iter=2000).fit(xf, y[fit])  # scikit-learn defaults (C=1)
    acc = float((clf.predict(vec.transform([texts[i] for i in test])) == y[test]).mean())
    print(f"langid TF-IDF char 1-3-gram + logistic regression: test accuracy {acc:.4f} "
          f"({len(fit)} train+val, {len(test)} test, seed {seed}, drop_ambiguous={drop_ambiguous})")
    return acc


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 42, drop_ambiguous=sys.argv[2:3] != ["keep"])
