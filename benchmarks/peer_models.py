"""The three problems of ``benchmarks/peers.py``: models, data, a short training.

(a) ``mlp``: the paper's MLP 3072-h-h-10 (ReLU) on real CIFAR-10 images;
(b) ``cnn``: a small CNN with BatchNorm, conv(3→c)–BN–ReLU–pool–conv(c→2c)–BN–ReLU–
    pool–linear, on the same images; its Hessians are taken in BatchNorm's train
    regime (each batch normalised with its own statistics, eoss ``bn_mode="train"``);
(c) ``transformer``: token embedding + learned positions, two
    ``nn.TransformerEncoderLayer`` blocks (d = 64, 4 heads), mean pooling and a
    linear head, on integer token sequences whose label is a function of the
    tokens.

Every model gets ``TRAIN_STEPS`` seeded SGD steps first, so the spectrum is not
the one of the initialisation (the issue measured the MLP after 1000 steps).
Without the CIFAR-10 batches, the images are seeded standard normal pixels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812 - torch convention
from torch import Tensor, nn

TRAIN_STEPS = 200
TRAIN_BATCH = 64
TRAIN_LR = 0.05
VOCAB, SEQ_LEN, CLASSES = 64, 32, 10


@dataclass
class Problem:
    """A trained model, its data and the BatchNorm regime of its Hessians."""

    name: str
    model: nn.Module
    X: Tensor
    y: Tensor
    bn_mode: str
    data_source: str


class TokenClassifier(nn.Module):
    """Token ids (b, T) → logits (b, C): embedding, encoder, mean pool, head."""

    def __init__(self, d: int = 64, layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, d)
        self.pos = nn.Parameter(0.02 * torch.randn(SEQ_LEN, d))
        block = nn.TransformerEncoderLayer(
            d, nhead=4, dim_feedforward=2 * d, dropout=0.0, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, CLASSES)

    def forward(self, ids: Tensor) -> Tensor:
        """Logits of the mean-pooled sequence."""
        return self.head(self.encoder(self.embed(ids) + self.pos).mean(dim=1))


def mlp(width: int) -> nn.Module:
    """MLP 3072-width-width-10."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(3072, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, 10),
    )


def bn_cnn(c: int = 16) -> nn.Module:
    """conv–BN–ReLU–maxpool ×2, linear (32×32 RGB inputs)."""
    return nn.Sequential(
        nn.Conv2d(3, c, 3, padding=1),
        nn.BatchNorm2d(c),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c, 2 * c, 3, padding=1),
        nn.BatchNorm2d(2 * c),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * c * 8 * 8, 10),
    )


def images(n: int, seed: int) -> tuple[Tensor, Tensor, str]:
    """n CIFAR-10 training images (standardised), or seeded noise without them."""
    repo = Path(__file__).resolve().parents[1]
    root = os.environ.get("EOSS_DATA_ROOT", str(repo.parent / "shared" / "data"))
    try:
        from eoss.empirical.data.cifar10 import load_cifar10

        train, _ = load_cifar10(root, n_train=n, n_test=0, seed=seed)
        return train.X, train.y, f"CIFAR-10 ({n} training images)"
    except (FileNotFoundError, ValueError):
        gen = torch.Generator().manual_seed(seed)
        X = torch.randn(n, 3, 32, 32, generator=gen)
        return X, torch.randint(0, 10, (n,), generator=gen), "random CIFAR-shaped"


def tokens(n: int, seed: int) -> tuple[Tensor, Tensor, str]:
    """Uniform token ids (n, T); label = (first token + last token) mod C."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randint(0, VOCAB, (n, SEQ_LEN), generator=gen)
    return X, (X[:, 0] + X[:, -1]) % CLASSES, f"uniform tokens (V={VOCAB})"


def train(model: nn.Module, X: Tensor, y: Tensor, seed: int) -> nn.Module:
    """``TRAIN_STEPS`` SGD steps on cross-entropy (train mode), seeded batches."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=TRAIN_LR)
    model.train()
    for _ in range(TRAIN_STEPS):
        rows = torch.randint(0, len(y), (TRAIN_BATCH,), generator=gen)
        opt.zero_grad()
        F.cross_entropy(model(X[rows]), y[rows]).backward()
        opt.step()
    return model


def build(name: str, n: int, seed: int = 0, width: int = 512) -> Problem:
    """The trained problem ``name`` (``mlp``, ``cnn`` or ``transformer``)."""
    torch.manual_seed(seed)
    if name == "transformer":
        X, y, src = tokens(n, seed)
        model = TokenClassifier()
    else:
        X, y, src = images(n, seed)
        model = mlp(width) if name == "mlp" else bn_cnn()
    model = train(model, X, y, seed)
    bn_mode = "train" if name == "cnn" else "eval"
    model.train(bn_mode == "train")
    return Problem(name, model, X, y, bn_mode, src)
