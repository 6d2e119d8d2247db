"""Theory for the gap: matrix Bernstein, random-matrix edges, perturbation laws, overlays."""
