"""Data sets: in-memory arrays, mini-batch sampling, CIFAR-10."""
