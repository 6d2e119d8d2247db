"""Sharpness estimators: FullBS, lambda_max of a batch, MiniBS, batch sharpness, NTK."""
