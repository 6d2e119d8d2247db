r"""A tiny transformer on integer tokens: MiniBS, batch sharpness and FullBS.

``nn.Embedding`` + ``nn.TransformerEncoderLayer`` on token ids (an ``int64``
tensor: eoss keeps integer inputs integer) predicting the next token of a
seeded periodic sequence. The loss is the user's own per-token cross-entropy,
a callable ``loss(outputs, targets) -> (b,)`` averaged over the T positions of
each sequence, so the empirical risk is the mean over sequences of the mean
per-token loss. While eoss takes Hessian products the attention runs on a
kernel with a double backward (switched on and restored by eoss).

``make_classifier`` is a factory for the command line (one label per sequence)::

    eoss sharpness --model tiny_transformer:make_classifier --data tokens.npz \
        --loss ce --batch-size 8 --batches 8      # run from examples/

``--small`` runs in a few seconds (the test suite).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - torch convention
from torch import nn

import eoss


class TinyTransformer(nn.Module):
    """Token ids (b, T) → logits (b, T, V) (``pool=False``) or (b, C) (``pool``)."""

    def __init__(
        self, vocab: int, seq_len: int, n_out: int, d: int = 16, pool: bool = False
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(0.1 * torch.randn(seq_len, d))
        self.block = nn.TransformerEncoderLayer(
            d, nhead=2, dim_feedforward=2 * d, dropout=0.0, batch_first=True
        )
        self.head = nn.Linear(d, n_out)
        self.pool = pool

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits of every position, or of the mean-pooled sequence."""
        h = self.block(self.embed(ids) + self.pos)
        return self.head(h.mean(dim=1) if self.pool else h)


def make_classifier(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Factory for ``--model tiny_transformer:make_classifier`` (vocabulary 16)."""
    return TinyTransformer(16, input_shape[0], num_classes, pool=True)


def per_token_ce(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """ℓ_n = mean_t −log softmax(f_{n,t})[y_{n,t}]; outputs (b, T, V), y (b, T)."""
    return F.cross_entropy(outputs.transpose(1, 2), targets, reduction="none").mean(1)


def token_data(n: int, seq_len: int, vocab: int, seed: int) -> tuple[Any, Any]:
    """Sequences x_t = (a + k t) mod V and their next tokens."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, vocab, size=(n, 1))
    k = rng.integers(1, 4, size=(n, 1))
    seq = (a + k * np.arange(seq_len + 1)) % vocab
    return torch.from_numpy(seq[:, :-1]), torch.from_numpy(seq[:, 1:])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure the tiny transformer at initialisation; return the numbers."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=256, help="sequences")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--small", action="store_true", help="toy size (for the tests)")
    args = p.parse_args(argv)
    n, T, V = (32, 6, 16) if args.small else (args.n, 12, 16)
    X, y = token_data(n, T, V, seed=0)  # int64 ids (n, T), next tokens (n, T)
    torch.manual_seed(0)
    model = TinyTransformer(V, T, V).double()
    rng = np.random.default_rng(0)
    b = min(args.batch_size, n // 2)
    full = eoss.full_sharpness(model, per_token_ce, (X, y), rng=rng)
    mini = eoss.minibatch_sharpness(
        model,
        per_token_ce,
        (X, y),
        batch_size=b,
        n_batches=4 if args.small else 16,
        rng=rng,
        full_vector=full.eigenvector,
    )
    out = {
        "fullbs": full.fullbs,
        "minibs": mini.minibs,
        "minibs_se": mini.minibs_se,
        "batch_sharpness": mini.batch_sharpness,
        "gap_cv": mini.gap_cv,
        "method": mini.method,
    }
    print(
        ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else v for k, v in out.items())
    )
    return out


if __name__ == "__main__":
    main()
