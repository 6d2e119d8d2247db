"""Theory of the gap: matrix Bernstein, RMT edges, perturbation laws, overlays."""
