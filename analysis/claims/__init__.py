"""Claims: each claim of the paper, the measured value with an interval, a verdict."""
