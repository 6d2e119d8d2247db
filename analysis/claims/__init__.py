"""Claims: each claim of the paper, the measured value with its interval, and a verdict."""
