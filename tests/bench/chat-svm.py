#!/usr/bin/python3
"""The baseline mas-chat's classifier is compared with in `make bench`:
scikit-learn's LinearSVC on TF-IDF character (1-3, within word bounds)
and word (1-2) n-grams, trained on the same knowledge base, tested on the
same held-out messages.  Out-of-scope examples are one more class, as in
mas-chat, and the threshold is chosen as mas-chat chooses it by default
(lib/classify.h): on the top probability of a softmax of the decision
values, its scale fitted to cross-validated ones (5 folds round-robin
within each label, only the first past 5,000 texts), by the rule
"oos_recall_capped" with out-of-scope examples, "correct_p5" without.
Prints the top-1 accuracy on in-scope messages; at the threshold, the
in-scope messages answered right and the out-of-scope recall (taken for
the out-of-scope class or under the threshold); the rule; the seconds
of fit; and predict's messages per second (elapsed, then CPU) on the
held-out messages, or on those of MESSAGES.jsonl when given.
Usage: chat-svm.py KB.jsonl HELDOUT.jsonl [MESSAGES.jsonl]"""
import json
import sys
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.svm import LinearSVC


def load_kb(path):
    texts, labels = [], []
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        entry = json.loads(line)
        kind = entry["type"]
        if kind == "intent":
            texts += entry["examples"]
            labels += [entry["name"]] * len(entry["examples"])
        elif kind == "faq":
            questions = entry.get("questions") or [entry["question"]]
            texts += questions
            labels += [entry["intent"]] * len(questions)
        elif kind == "out_of_scope":
            texts += entry["examples"]
            labels += ["out_of_scope"] * len(entry["examples"])
    return texts, labels


OOS_RECALL, LOSS_CAP = 0.75, 0.02  # MAS_CLASSIFY_* in lib/classify.h


def softmax_top(scores, scale):
    z = scores * scale
    z = z - z.max(1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(1, keepdims=True)


def fit_scale(scores, truth):
    """The scale that minimises the log-loss, on a fine logarithmic grid."""
    best, best_loss = 1.0, np.inf
    rows = np.arange(len(truth))
    for scale in np.exp(np.linspace(np.log(0.01), np.log(1000), 600)):
        z = scores * scale
        z = z - z.max(1, keepdims=True)
        loss = -(z[rows, truth] - np.log(np.exp(z).sum(1))).mean()
        if loss < best_loss:
            best, best_loss = scale, loss
    return best


def choose_threshold(p, kind):
    """kind: 1 right, 0 wrong, -1 out of scope not taken for its class,
    -2 taken for it (refused whatever the threshold)."""
    order = np.argsort(p, kind="stable")
    p, kind = p[order], kind[order]
    inside = (kind >= 0).sum()
    oos = (kind < 0).sum()
    if oos == 0:
        right = p[kind == 1]
        return right[len(right) // 20] if len(right) else 0.0, "correct_p5"
    # candidate thresholds: 0, and midway after each distinct value
    cut = np.concatenate([(p[:-1] + p[1:]) / 2, [p[-1] + 1e-6]])
    valid = np.concatenate([p[1:] > p[:-1], [True]])
    lost = np.cumsum(kind == 1)
    caught = (kind == -2).sum() + np.cumsum(kind == -1)
    if (kind == -2).sum() >= OOS_RECALL * oos:
        target = 0.0
    else:
        ok = np.where(valid & (caught >= OOS_RECALL * oos - 1e-9))[0]
        target = cut[ok[0]] if len(ok) else p[-1] + 1e-6
    # lost only grows: these are a prefix
    ok = np.where(valid & (lost <= LOSS_CAP * inside + 1e-9))[0]
    cap = cut[ok[-1]] if len(ok) else 0.0
    return min(target, cap), "oos_recall_capped"


def calibrate(make, texts, labels):
    """The scale and threshold, by cross-validation as mas-chat does."""
    classes = sorted(set(labels))
    index = {c: k for k, c in enumerate(classes)}
    truth = np.array([index[label] for label in labels])
    seen = {}
    fold = []
    for label in labels:
        fold.append(seen.get(label, 0) % 5)
        seen[label] = seen.get(label, 0) + 1
    fold = np.array(fold)
    held = np.zeros(len(texts), bool)
    scores = np.zeros((len(texts), len(classes)))
    for f in range(1 if len(texts) > 5000 else 5):
        train = np.where(fold != f)[0]
        test = np.where(fold == f)[0]
        model = make().fit([texts[i] for i in train],
                           [labels[i] for i in train])
        cols = [index[c] for c in model.classes_]
        scores[np.ix_(test, cols)] = model.decision_function(
            [texts[i] for i in test])
        held[test] = True
    scores, truth = scores[held], truth[held]
    scale = fit_scale(scores, truth)
    p = softmax_top(scores, scale)
    top = p.argmax(1)
    oos = index.get("out_of_scope", -1)
    kind = np.where(truth == oos, np.where(top == oos, -2, -1),
                    (top == truth).astype(int))
    threshold, rule = choose_threshold(p.max(1), kind)
    return scale, threshold, rule


def make_model():
    return make_pipeline(
        FeatureUnion([
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3),
                                     sublinear_tf=True)),
            ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2),
                                     sublinear_tf=True,
                                     token_pattern=r"(?u)\b\w+\b")),
        ]),
        LinearSVC(C=1.0))


def main():
    texts, labels = load_kb(sys.argv[1])
    held = [json.loads(line) for line in open(sys.argv[2], encoding="utf-8")]
    model = make_model()
    start = time.perf_counter()
    model.fit(texts, labels)
    trained = time.perf_counter() - start
    scale, threshold, rule = calibrate(make_model, texts, labels)
    p = softmax_top(model.decision_function(
        [h["message"] for h in held]), scale)
    predicted = model.classes_[p.argmax(1)]
    answered = (predicted != "out_of_scope") & (p.max(1) >= threshold)
    timed = [h["message"] for h in held]
    if len(sys.argv) > 3:
        timed = [json.loads(line)["message"]
                 for line in open(sys.argv[3], encoding="utf-8")]
    start, start_cpu = time.perf_counter(), time.process_time()
    model.predict(timed)
    elapsed = time.perf_counter() - start
    elapsed_cpu = time.process_time() - start_cpu
    truth = np.array([h["intent"] for h in held])
    scope = truth != "out_of_scope"
    top1 = (predicted[scope] == truth[scope]).mean()
    right = (answered & (predicted == truth))[scope].mean()
    recall = ((~answered)[~scope].mean() if (~scope).any()
              else float("nan"))
    print(f"{top1:.3f} {right:.3f} {recall:.3f} {rule} {trained:.3f} "
          f"{len(timed) / elapsed:.0f} {len(timed) / elapsed_cpu:.0f}")


main()
