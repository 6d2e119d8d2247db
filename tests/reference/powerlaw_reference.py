"""Closed-form reference values for the log-log regressions.

Provenance: derived by hand (no software), in the style of statsmodels'
``tests/results`` modules. Data: x = 2^k, k = 0..3, so u = log x = k·ln 2, and

    log y = LOG_C − ALPHA·u + E,   E = C·(1, −1, −1, 1),

where E is orthogonal to both regressors (Σ E = 0 and Σ k E_k = 0 − 1 − 2 + 3 = 0).
Ordinary least squares therefore returns the intercept LOG_C and the slope −ALPHA
exactly, with residuals E. With S_uu = Σ (u − ū)² = 5 (ln 2)² and residual variance
σ̂² = Σ E² / (n − 2) = 4C²/2 = 2C²:

    SE(α) = sqrt(σ̂² / S_uu) = C · sqrt(2/5) / ln 2,

the 95 % interval is α ± t_{0.975, 2} · SE(α), and the p-value of H0: α = a is
2 · t_2.sf(|α − a| / SE(α)). R² = 1 − Σ E² / Σ (v − v̄)² with
Σ (v − v̄)² = ALPHA² S_uu + 4C² (E ⟂ u).

Two-regime reference (segmented fits): log y = 1 − 0.7 u − 0.3 (u − log 40)_+ on
b = 1, 2, 4, …, 1024 is exactly continuous with exponents 0.7 then 1.0 and a
breakpoint at b = 40.
"""

import math

X = [1.0, 2.0, 4.0, 8.0]
ALPHA = 0.8
LOG_C = 0.5
C = 0.05
E = [C, -C, -C, C]
Y = [math.exp(LOG_C - ALPHA * math.log(x) + e) for x, e in zip(X, E, strict=True)]
SE_ALPHA = C * math.sqrt(2 / 5) / math.log(2)
S_UU = 5 * math.log(2) ** 2
R2 = 1 - 4 * C**2 / (ALPHA**2 * S_UU + 4 * C**2)
DF = 2

TWO_REGIME = {"breakpoint": 40.0, "exponents": (0.7, 1.0), "log_c": 1.0}
