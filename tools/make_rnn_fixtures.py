#!/usr/bin/env python3
"""Writes Tests/LayersTests/Fixtures/rnn-layers.bin.gz: nn.LSTM and nn.GRU (batch_first) outputs,
final states and gradients computed by PyTorch, for Tests/LayersTests/RecurrentTests.swift.

Setup: pip install torch

Weights (PyTorch default init), inputs, initial states and upstream gradients are float32
(torch.manual_seed(0), torch.rand*2-1); the module then runs in float64 on exactly those values
and results are rounded to float32. Variable lengths go through pack_padded_sequence
(enforce_sorted=False) and pad_packed_sequence(total_length=T), so padded outputs are 0. A
"repeated" case feeds the same x (B, D) at every step (x expanded to (B, T, D)).

Tensors per case <c> (format: tools/fixture_format.py, gzip-compressed); states are batch first,
(B, layers*dirs*H) ordered [layer][direction][H], i.e. PyTorch's h_n permuted:
    <c>.config (8,)          cell (0 LSTM, 1 GRU), D, H, T, layers, bidirectional, repeated, B
    <c>.lengths (B,)         valid steps per sample (T everywhere for fixed-length cases)
    <c>.x                    (B, T, D), or (B, D) when repeated
    <c>.h0, <c>.c0           initial states (c0 only for LSTM)
    <c>.rnn.<param>          every parameter under its state_dict name (weight_ih_l0, ...)
    <c>.dy, <c>.dh_n, <c>.dc_n   upstream gradients of y, h_n and (LSTM) c_n
    <c>.y, <c>.h_n, <c>.c_n  outputs
    <c>.dx, <c>.dh0, <c>.dc0, <c>.grad.rnn.<param>   gradients of
                             sum(y * dy) + sum(h_n * dh_n) + sum(c_n * dc_n)
"""
import os
import sys

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_format import write_fixture  # noqa: E402

OUT = os.path.join(HERE, "..", "Tests", "LayersTests", "Fixtures", "rnn-layers.bin.gz")

B, T, D = 3, 5, 4
# name, cell, H, layers, bidirectional, repeated, lengths (None: all T); H = 3 keeps the
# two-layer bidirectional cases (and so the committed file) small.
CASES = [
    ("lstm_single", "lstm", 6, 1, False, False, None),
    ("gru_single", "gru", 6, 1, False, False, None),
    ("lstm_2layer_bi", "lstm", 3, 2, True, False, None),
    ("gru_2layer_bi", "gru", 3, 2, True, False, None),
    ("lstm_lengths", "lstm", 3, 2, True, False, [5, 2, 3]),
    ("gru_lengths", "gru", 3, 2, True, False, [2, 5, 1]),
    ("lstm_repeated", "lstm", 6, 1, False, True, None),
    ("gru_repeated", "gru", 6, 1, False, True, None),
]


def entry(name, t):
    t = t.detach().to(torch.float32).contiguous()
    return (name, tuple(t.shape), [float(v) for v in t.reshape(-1).tolist()])


def batch_first_state(s):
    """(layers*dirs, B, H) -> (B, layers*dirs*H)."""
    return s.permute(1, 0, 2).reshape(s.shape[1], -1)


def main():
    torch.manual_seed(0)
    tensors = []
    for name, cell, H, layers, bidirectional, repeated, lengths in CASES:
        module_type = nn.LSTM if cell == "lstm" else nn.GRU
        rnn = module_type(D, H, num_layers=layers, bidirectional=bidirectional, batch_first=True)
        dirs = 2 if bidirectional else 1
        x = torch.rand(B, D) * 2 - 1 if repeated else torch.rand(B, T, D) * 2 - 1
        h0 = torch.rand(layers * dirs, B, H) * 2 - 1
        c0 = torch.rand(layers * dirs, B, H) * 2 - 1
        dy = torch.rand(B, T, dirs * H) * 2 - 1
        dh_n = torch.rand(layers * dirs, B, H) * 2 - 1
        dc_n = torch.rand(layers * dirs, B, H) * 2 - 1

        rnn64 = rnn.double()  # parameters were drawn in float32; converting is exact
        x64 = x.double().requires_grad_(True)
        h064 = h0.double().requires_grad_(True)
        c064 = c0.double().requires_grad_(True)
        sequence = x64.unsqueeze(1).expand(B, T, D) if repeated else x64
        state = (h064, c064) if cell == "lstm" else h064
        if lengths is None:
            y64, final = rnn64(sequence, state)
        else:
            packed = pack_padded_sequence(sequence, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
            out, final = rnn64(packed, state)
            y64, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
        h_n, c_n = final if cell == "lstm" else (final, None)
        loss = (y64 * dy.double()).sum() + (h_n * dh_n.double()).sum()
        if cell == "lstm":
            loss = loss + (c_n * dc_n.double()).sum()
        loss.backward()

        config = torch.tensor([0 if cell == "lstm" else 1, D, H, T, layers, int(bidirectional), int(repeated), B])
        tensors += [
            entry(name + ".config", config),
            entry(name + ".lengths", torch.tensor(lengths if lengths else [T] * B)),
            entry(name + ".x", x),
            entry(name + ".h0", batch_first_state(h0)),
        ]
        params = list(rnn64.named_parameters())
        tensors += [entry(f"{name}.rnn.{p}", v) for p, v in params]
        tensors += [
            entry(name + ".dy", dy),
            entry(name + ".dh_n", batch_first_state(dh_n)),
            entry(name + ".y", y64),
            entry(name + ".h_n", batch_first_state(h_n)),
            entry(name + ".dx", x64.grad),
            entry(name + ".dh0", batch_first_state(h064.grad)),
        ]
        if cell == "lstm":
            tensors += [
                entry(name + ".c0", batch_first_state(c0)),
                entry(name + ".dc_n", batch_first_state(dc_n)),
                entry(name + ".c_n", batch_first_state(c_n)),
                entry(name + ".dc0", batch_first_state(c064.grad)),
            ]
        tensors += [entry(f"{name}.grad.rnn.{p}", v.grad) for p, v in params]
    write_fixture(OUT, tensors)
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
