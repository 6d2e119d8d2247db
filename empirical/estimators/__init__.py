"""Sharpness estimators: FullBS, λ_max(H_B), MiniBS, batch sharpness, NTK."""
