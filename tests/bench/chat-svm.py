#!/usr/bin/python3
"""The baseline mas-chat's classifier is compared with in `make bench`:
scikit-learn's LinearSVC on TF-IDF character (1-3, within word bounds)
and word (1-2) n-grams, trained on the same knowledge base, tested on the
same held-out messages.  Out-of-scope examples are one more class, as in
mas-chat.  Prints the accuracy, the out-of-scope recall, the seconds of
fit, and predict's messages per second (elapsed, then CPU) on the
held-out messages, or on those of MESSAGES.jsonl when given.
Usage: chat-svm.py KB.jsonl HELDOUT.jsonl [MESSAGES.jsonl]"""
import json
import sys
import time

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


def main():
    texts, labels = load_kb(sys.argv[1])
    held = [json.loads(line) for line in open(sys.argv[2], encoding="utf-8")]
    model = make_pipeline(
        FeatureUnion([
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3),
                                     sublinear_tf=True)),
            ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2),
                                     sublinear_tf=True,
                                     token_pattern=r"(?u)\b\w+\b")),
        ]),
        LinearSVC(C=1.0))
    start = time.perf_counter()
    model.fit(texts, labels)
    trained = time.perf_counter() - start
    predicted = model.predict([h["message"] for h in held])
    timed = [h["message"] for h in held]
    if len(sys.argv) > 3:
        timed = [json.loads(line)["message"]
                 for line in open(sys.argv[3], encoding="utf-8")]
    start, start_cpu = time.perf_counter(), time.process_time()
    model.predict(timed)
    answered = time.perf_counter() - start
    answered_cpu = time.process_time() - start_cpu
    scope = [(h, p) for h, p in zip(held, predicted)
             if h["intent"] != "out_of_scope"]
    oos = [(h, p) for h, p in zip(held, predicted)
           if h["intent"] == "out_of_scope"]
    accuracy = sum(h["intent"] == p for h, p in scope) / len(scope)
    recall = (sum(p == "out_of_scope" for h, p in oos) / len(oos)
              if oos else float("nan"))
    print(f"{accuracy:.3f} {recall:.3f} {trained:.3f} "
          f"{len(timed) / answered:.0f} {len(timed) / answered_cpu:.0f}")


main()
