#!/usr/bin/env python3
"""PyTorch reference of the adversarial autoencoder's unsupervised clustering (Makhzani et al. 2015,
section 6 and appendix): the reference that `autoencoder train --model aae --clusters K` is
compared with, epoch by epoch.

The paper's setup: encoder 784-3000-3000 with two heads, a softmax over K clusters q(y|x) and a
Gaussian style code z (5 dimensions); the decoder reads (y, z) through 3000-3000 to a sigmoid
output; two discriminators of 3000-3000 ReLU units, one telling y from one-hot draws of a uniform
categorical, one telling z from N(0, I). Each step runs three phases on the same minibatch
(batch 100): reconstruction (encoder and decoder), regularization of the discriminators, then of
the encoder as generator. SGD with momentum 0.9; learning rates 0.01 (reconstruction) and 0.1
(regularization), divided by 10 after 50 epochs and again after 1000. Gaussian noise (std 0.3) on
the encoder's input.

Every epoch prints the mean of each phase's loss and the test clustering error: each cluster is
labelled with the most frequent true label of the training images that fall into it, and the
error is the fraction of test images whose cluster's label is wrong (how `evaluate` reports
`cluster_error`). --csv PATH writes the curve; --state PATH saves the state after each epoch and
resumes from it, so a run can be stopped (--time-limit) and continued.

    python3 tools/torch_aae_clusters.py --data data/mnist --width 1000 --epochs 200 --threads 1 \
        --optimizer adam --lr-reconstruction 1e-3 --lr-regularization 1e-4 \
        --csv runs/torch-aae-clusters.csv --state runs/torch-aae-clusters.pt

With the paper's SGD rates (0.01 / 0.1, momentum 0.9) and PyTorch's default initialization the
regularization phases diverge within 30 steps here (the script stops at non-finite losses);
Adam (1e-3 for reconstruction, 1e-4 with beta1 0.5 for the adversarial phases) trains. Weights
drawn from N(0, 0.01^2) (--init-std 0.01) diverge as well.

The terms that `--shift`, `--rotate`, `--consistency` and `--balance` add to ours (--shift, --rotate,
--consistency and --entropy-weight here): the encoder reads the noisy image moved by up to --shift
pixels and turned by up to --rotate degrees; the
reconstruction phase adds the cross-entropy of the cluster probabilities of a second view (the
clean image plus the first view's noise moved cyclically along the row, then shifted by its own
offset) against the first view's, held fixed, and --entropy-weight x (mean entropy of q(y|x) minus
the entropy of the batch's mean q(y|x)).

Setup: pip install torch numpy
"""
import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from torch_vae import read_idx


def load(folder, split):
    out = []
    for kind in ("images-idx3", "labels-idx1"):
        for suffix in (".gz", ""):
            path = os.path.join(folder, f"{split}-{kind}-ubyte{suffix}")
            if os.path.exists(path):
                out.append(read_idx(path))
                break
        else:
            raise SystemExit(f"{folder}: no {split}-{kind}-ubyte[.gz]")
    images = torch.from_numpy(out[0].reshape(-1, 784).astype(np.float32) / 255.0)
    return images, torch.from_numpy(out[1].astype(np.int64))


def mlp(widths, last_activation=None):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    if last_activation is not None:
        layers.append(last_activation)
    return nn.Sequential(*layers)


class ClusteringAAE(nn.Module):
    def __init__(self, width, clusters, style, disc_width):
        super().__init__()
        self.clusters = clusters
        self.encoder = mlp([784, width, width, clusters + style])
        self.decoder = mlp([clusters + style, width, width, 784])
        self.disc_y = mlp([clusters, disc_width, disc_width, 1])
        self.disc_z = mlp([style, disc_width, disc_width, 1])

    def encode(self, x):
        head = self.encoder(x)
        return torch.softmax(head[:, :self.clusters], dim=1), head[:, self.clusters:]


def cluster_error(model, train_x, train_y, test_x, test_y):
    """Test error of the majority labelling learned on the training split, and clusters in use."""
    with torch.no_grad():
        train_c = torch.cat([model.encode(b)[0].argmax(1) for b in train_x.split(1000)])
        test_q = torch.cat([model.encode(b)[0] for b in test_x.split(1000)])
    test_c = test_q.argmax(1)
    k = model.clusters
    counts = torch.zeros(k, 10, dtype=torch.int64)
    counts.index_put_((train_c, train_y), torch.ones_like(train_c), accumulate=True)
    label = counts.argmax(1)
    used = int((counts.sum(1) > 0).sum())
    confidence = float(test_q.max(1).values.mean())
    return float((label[test_c] != test_y).float().mean()), used, confidence


def moved(x, n, degrees):
    """`shifted`, or with degrees > 0 each image also turned by up to that angle either way about its
    centre (bilinear, zeros outside), as ours does for --rotate."""
    if degrees <= 0:
        return shifted(x, n)
    b = x.shape[0]
    angle = (torch.rand(b) * 2 - 1) * degrees * np.pi / 180
    dy = torch.randint(-n, n + 1, (b,)).float() if n > 0 else torch.zeros(b)
    dx = torch.randint(-n, n + 1, (b,)).float() if n > 0 else torch.zeros(b)
    c, s = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([c, s, 2 * dx / 27], 1), torch.stack([-s, c, 2 * dy / 27], 1)], 1)
    grid = F.affine_grid(theta, (b, 1, 28, 28), align_corners=True)
    return F.grid_sample(x.view(b, 1, 28, 28), grid, align_corners=True, padding_mode="zeros").reshape(b, 784)


def shifted(x, n):
    """Each image of the batch moved by its own random offset of up to n pixels, zeros shifted in."""
    b = x.shape[0]
    padded = F.pad(x.view(b, 28, 28), (n, n, n, n))
    dy = torch.randint(0, 2 * n + 1, (b, 1, 1))
    dx = torch.randint(0, 2 * n + 1, (b, 1, 1))
    grid = torch.arange(28)
    rows = (dy + grid.view(1, 28, 1)).expand(b, 28, 28)
    cols = (dx + grid.view(1, 1, 28)).expand(b, 28, 28)
    return padded[torch.arange(b).view(b, 1, 1), rows, cols].reshape(b, 784)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="folder with the MNIST IDX files")
    ap.add_argument("--width", type=int, default=3000, help="hidden width of encoder and decoder (paper: 3000)")
    ap.add_argument("--disc-width", type=int, default=None, help="discriminator width (default: --width)")
    ap.add_argument("--clusters", type=int, default=16)
    ap.add_argument("--style", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--lr-reconstruction", type=float, default=0.01)
    ap.add_argument("--lr-regularization", type=float, default=0.1)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd",
                    help="sgd with --momentum (paper) or adam (beta1 0.5 for the regularization phases)")
    ap.add_argument("--reconstruction-sum", action="store_true",
                    help="reconstruction cross-entropy summed over pixels (mean over the batch), not averaged")
    ap.add_argument("--decay-epochs", default="50,1000", help="epochs after which both rates fall tenfold")
    ap.add_argument("--input-noise", type=float, default=0.3, help="std of Gaussian noise on the encoder's input")
    ap.add_argument("--init-std", type=float, default=0,
                    help="weights from N(0, std^2) and zero biases (0: PyTorch's default initialization)")
    ap.add_argument("--prior-temperature", type=float, default=0,
                    help="draw the categorical prior as Gumbel-softmax samples at this temperature (0: one-hot)")
    ap.add_argument("--shift", type=int, default=0, help="shift the encoder's input by up to this many pixels")
    ap.add_argument("--rotate", type=float, default=0, help="and turn it by up to this many degrees either way")
    ap.add_argument("--entropy-weight", type=float, default=0,
                    help="add W * (mean entropy of q(y|x) - entropy of the batch's mean q(y|x)) to the "
                         "reconstruction phase: confident, balanced clusters")
    ap.add_argument("--consistency", type=float, default=0,
                    help="add W * cross-entropy of q(y|x) under a second random shift against the first "
                         "(held fixed) to the reconstruction phase")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit-steps", type=int, default=0, help="steps per epoch (0: the whole training split)")
    ap.add_argument("--time-limit", type=float, default=0, help="minutes; stop after the epoch that passes it")
    ap.add_argument("--csv", help="append epoch, losses, test error, clusters used and seconds here")
    ap.add_argument("--state", help="save the state here after each epoch and resume from it")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_x, train_y = load(args.data, "train")
    test_x, test_y = load(args.data, "t10k")
    model = ClusteringAAE(args.width, args.clusters, args.style, args.disc_width or args.width)
    if args.init_std > 0:
        for m in model.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, args.init_std)
                nn.init.zeros_(m.bias)
    def make(params, lr, adversarial):
        if args.optimizer == "adam":
            return torch.optim.Adam(params, lr=lr, betas=(0.5 if adversarial else 0.9, 0.999))
        return torch.optim.SGD(params, lr=lr, momentum=args.momentum)
    opt_rec = make(list(model.encoder.parameters()) + list(model.decoder.parameters()), args.lr_reconstruction, False)
    opt_disc = make(list(model.disc_y.parameters()) + list(model.disc_z.parameters()), args.lr_regularization, True)
    opt_gen = make(model.encoder.parameters(), args.lr_regularization, True)
    optimizers = (opt_rec, opt_disc, opt_gen)
    base_lrs = (args.lr_reconstruction, args.lr_regularization, args.lr_regularization)
    decay = [int(e) for e in args.decay_epochs.split(",") if e]
    start, elapsed = 0, 0.0
    if args.state and os.path.exists(args.state):
        saved = torch.load(args.state)
        model.load_state_dict(saved["model"])
        for opt, state in zip(optimizers, saved["optimizers"]):
            opt.load_state_dict(state)
        start, elapsed = saved["epoch"], saved["elapsed"]
        torch.set_rng_state(saved["rng"])
        print(f"resumed after epoch {start} ({elapsed:.0f} s)")
    if args.csv and start == 0:
        with open(args.csv, "w") as f:
            f.write("epoch,reconstruction,discriminator,generator,test_cluster_error,clusters_used,confidence,"
                    "seconds\n")
    began = time.time()
    bce = nn.BCEWithLogitsLoss()
    n = train_x.shape[0]
    for epoch in range(start, args.epochs):
        factor = 0.1 ** sum(epoch >= d for d in decay)
        for opt, lr in zip(optimizers, base_lrs):
            for group in opt.param_groups:
                group["lr"] = lr * factor
        t0 = time.time()
        sums = np.zeros(3)
        order = torch.randperm(n)
        steps = min(n // args.batch_size, args.limit_steps or n)
        for s in range(steps):
            x = train_x[order[s * args.batch_size:(s + 1) * args.batch_size]]
            # The noisy image, then (as ours does) moved: the noise moves with it.
            corrupted = x + args.input_noise * torch.randn_like(x) if args.input_noise > 0 else x
            noisy = moved(corrupted, args.shift, args.rotate) if args.shift > 0 or args.rotate > 0 else corrupted
            b = x.shape[0]
            # Reconstruction.
            y, z = model.encode(noisy)
            rec = F.binary_cross_entropy_with_logits(model.decoder(torch.cat([y, z], 1)), x)
            if args.reconstruction_sum:
                rec = rec * 784
            if args.entropy_weight > 0:
                logq = torch.log(y.clamp_min(1e-12))
                conditional = -(y * logq).sum(1).mean()
                mean_q = y.mean(0)
                marginal = -(mean_q * torch.log(mean_q.clamp_min(1e-12))).sum()
                rec = rec + args.entropy_weight * (conditional - marginal)
            if args.consistency > 0:
                # The second view's noise: the first's, each row's moved cyclically by its own offset
                # (a new draw of the same noise without knowing its kind), as ours makes it.
                roll = (torch.arange(784).view(1, 784) + torch.randint(0, 784, (b, 1))) % 784
                second = x + (corrupted - x).gather(1, roll)
                y2, _ = model.encode(moved(second, args.shift, args.rotate))
                rec = rec - args.consistency * (y.detach() * torch.log(y2.clamp_min(1e-12))).sum(1).mean()
            opt_rec.zero_grad()
            rec.backward()
            opt_rec.step()
            # Discriminators: prior draws are real, codes fake.
            with torch.no_grad():
                y, z = model.encode(noisy)
            if args.prior_temperature > 0:
                gumbel = -torch.log(-torch.log(torch.rand(b, args.clusters).clamp_min(1e-20)))
                real_y = torch.softmax(gumbel / args.prior_temperature, dim=1)
            else:
                real_y = F.one_hot(torch.randint(0, args.clusters, (b,)), args.clusters).float()
            real_z = torch.randn(b, args.style)
            ones, zeros = torch.ones(b, 1), torch.zeros(b, 1)
            d = (bce(model.disc_y(real_y), ones) + bce(model.disc_y(y), zeros)
                 + bce(model.disc_z(real_z), ones) + bce(model.disc_z(z), zeros))
            opt_disc.zero_grad()
            d.backward()
            opt_disc.step()
            # Generator: the encoder's codes labelled real.
            y, z = model.encode(noisy)
            g = bce(model.disc_y(y), ones) + bce(model.disc_z(z), ones)
            opt_gen.zero_grad()
            g.backward()
            opt_gen.step()
            sums += (rec.item(), d.item(), g.item())
        elapsed += time.time() - t0
        means = sums / steps
        if not np.isfinite(means).all():
            raise SystemExit(f"epoch {epoch + 1}: the losses are not finite ({means}); lower the learning rates")
        error, used, confidence = cluster_error(model, train_x, train_y, test_x, test_y)
        print(f"epoch {epoch + 1}: reconstruction {means[0]:.4f} discriminator {means[1]:.4f} "
              f"generator {means[2]:.4f} test cluster error {100 * error:.2f}% ({used} clusters used, "
              f"mean top probability {confidence:.3f}) "
              f"{elapsed:.0f} s", flush=True)
        if args.csv:
            with open(args.csv, "a") as f:
                f.write(f"{epoch + 1},{means[0]:.5f},{means[1]:.5f},{means[2]:.5f},{error:.5f},{used},"
                        f"{confidence:.4f},{elapsed:.1f}\n")
        if args.state:
            torch.save({"model": model.state_dict(), "optimizers": [o.state_dict() for o in optimizers],
                        "epoch": epoch + 1, "elapsed": elapsed, "rng": torch.get_rng_state()},
                       args.state + ".tmp")
            os.replace(args.state + ".tmp", args.state)
        if args.time_limit and time.time() - began > args.time_limit * 60:
            print(f"time limit reached after epoch {epoch + 1}")
            break


if __name__ == "__main__":
    main()
