#!/usr/bin/env python3
"""Voice conversion of an AdaIN-form run, judged by a classifier independent of the tool's.

`autoencoder evaluate` scores conversions with a one-hidden-layer perceptron on whole padded rows,
the same kind of classifier as the conversion critic (--swap-weight). This check rebuilds the
checkpoint in PyTorch (tools/torch_models.py), converts each test sequence to the style of a test
sequence of another label (seeded pairs), and classifies the conversions with a multinomial
logistic regression on per-sequence statistics (each feature's mean and standard deviation over
the sequence's own steps, the classic speaker cue), fitted on the training sequences. It prints
that classifier's accuracy on real test sequences, how often conversions take the target's label,
and how often they keep the source's.

  python3 tools/check_conversion.py --data japanese-vowels runs/RUN [runs/RUN2 ...]
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models as tm  # noqa: E402


def statistics(rows, lengths, steps, features):
    """(count, 2F): each feature's mean and standard deviation over the row's own steps."""
    x = rows[:, :steps * features].reshape(len(rows), steps, features)
    mask = (np.arange(steps)[None, :] < lengths[:, None])[:, :, None]
    count = np.maximum(lengths, 1)[:, None]
    mean = (x * mask).sum(1) / count
    var = (((x - mean[:, None, :]) * mask) ** 2).sum(1) / count
    return np.concatenate([mean, np.sqrt(var)], axis=1).astype(np.float32)


def fit_logistic(features, labels, classes, steps=500, decay=1e-3):
    torch.manual_seed(0)
    x, y = torch.from_numpy(features), torch.from_numpy(labels.astype(np.int64))
    mu, sigma = x.mean(0), x.std(0) + 1e-6
    layer = torch.nn.Linear(x.shape[1], classes)
    optimizer = torch.optim.LBFGS(layer.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(layer((x - mu) / sigma), y) + decay * layer.weight.square().sum()
        loss.backward()
        return loss
    optimizer.step(closure)
    return lambda f: layer((torch.from_numpy(f) - mu) / sigma).argmax(1).numpy()


def training_rows(data, config, steps):
    train, _ = tm.sequence_splits(data, config)
    s = config["standardization"]
    mean, std = np.array(s["mean"], dtype=np.float32), np.array(s["std"], dtype=np.float32)
    features = len(mean)
    rows = np.zeros((len(train.lengths), steps * features), dtype=np.float32)
    for i, n in enumerate(train.lengths):
        rows[i, :n * features] = ((train.values[i][:steps] - mean) / std).reshape(-1)[:steps * features]
    return rows, np.minimum(np.array(train.lengths), steps), np.array(train.labels)


def check(run, data, seed):
    path = os.path.join(run, "checkpoints", "best.safetensors") if os.path.isdir(run) else run
    model, config = tm.load(path)
    (kind, c), = config["model"].items()
    if kind != "disentangle" or c.get("form") != "adain" or not c.get("steps"):
        raise tm.CheckError(f"{path}: not an AdaIN-form model of sequences")
    split = tm.sequence_test_split(data, config, c["steps"])
    steps, features = split.steps, c["features"]
    train_rows, train_lengths, train_labels = training_rows(data, config, steps)
    classes = int(max(train_labels.max(), split.labels.max())) + 1
    classify = fit_logistic(statistics(train_rows, train_lengths, steps, features), train_labels, classes)
    labels, lengths = np.asarray(split.labels), np.asarray(split.lengths)
    real = (classify(statistics(split.rows, lengths, steps, features)) == labels).mean()
    # Each test sequence with the style of a random test sequence of another label.
    rng = np.random.default_rng(seed)
    partners = np.array([rng.choice(np.flatnonzero(labels != y)) for y in labels])
    rows = torch.from_numpy(split.rows)
    with torch.no_grad():
        out = model.run(tm.Split(rows, split.labels, split.ids, split.description, split.lengths, split.steps),
                        style_from=torch.from_numpy(partners))["recon"].numpy()
    predicted = classify(statistics(out, lengths, steps, features))
    target = (predicted == labels[partners]).mean()
    source = (predicted == labels).mean()
    print(f"{run}: independent classifier {100 * real:.1f}% on real test sequences; conversions "
          f"take the target's label {100 * target:.1f}%, keep the source's {100 * source:.1f}% "
          f"({len(labels)} pairs)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run folders or checkpoints of --model disentangle --form adain")
    parser.add_argument("--data", default="japanese-vowels", help="the sequence data (default japanese-vowels)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the conversion pairs")
    args = parser.parse_args()
    try:
        for run in args.runs:
            check(run, args.data, args.seed)
    except tm.CheckError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
