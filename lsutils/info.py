r"""Mutual information between the index of a training example and a scalar function of its logits.

Müller, Kornblith & Hinton (2019, Sec. 4) ask how much a network's logits still say about *which*
training example went in. X is the index of an example (uniform over N examples), Y = f(d(x)) a
scalar of the logits — the difference of two logits — under a random augmentation d. With L
augmented copies of each example, :math:`\mu_x` the mean of f over the copies of example x and one
shared variance :math:`\sigma^2 = \frac{1}{NL} \sum_{x,l} (f_{x,l} - \mu_x)^2`, each p(y | x) is
modelled as :math:`N(\mu_x, \sigma^2)` and

.. math::

   \hat I = \frac{1}{NL} \sum_{x,l} \Bigl[ -\frac{(f_{x,l} - \mu_x)^2}{2\sigma^2}
            - \log \Bigl( \frac{1}{N} \sum_{x'} \exp\Bigl(-\frac{(f_{x,l} - \mu_{x'})^2}{2\sigma^2}\Bigr)
            \Bigr) \Bigr],

the average of log p(y | x) − log p(y) with p(y) the equal mixture of the N Gaussians (their
common normalising constant cancels). Written as log N + mean log p(x | y), it is at most log N,
reached when every example is told apart from all others; it is 0 when the N means coincide; two
well-separated classes whose examples are indistinguishable within a class give log 2.

Bias. :math:`\mu_x` is a mean of only L noisy copies, so even when f does not depend on the
example the :math:`\mu_x` scatter by about σ/√L and the estimate reads above 0: about
½·log(1 + 1/(L − 1)) nats for a Gaussian f, ≈ 0.11 nats at the paper's L = 5. Limits are only
reached for large L.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["mutual_information", "mutual_information_bias"]


def _as_samples(samples) -> np.ndarray:
    if hasattr(samples, "detach"):  # a torch tensor
        samples = samples.detach().cpu().numpy()
    f = np.asarray(samples, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"samples must be a 2-D array (N examples, L augmented copies), got shape {f.shape}")
    n, copies = f.shape
    if n < 2 or copies < 2:
        raise ValueError(f"samples needs N ≥ 2 examples and L ≥ 2 copies of each, got shape {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError("samples must be finite")
    return f


def mutual_information(samples, chunk: int = 256) -> float:
    """The paper's estimate Î (nats) of the mutual information between example index and f.

    ``samples``: array (N, L), row x holding f for L augmented copies of example x (numpy or torch;
    computed in float64). Returns a float in [0, log N] up to rounding (see the top of this page
    for the formula and for its upward bias at small L). Raises ``ValueError`` when the shared
    variance σ² is 0 — every copy of every example equal to its example's mean — where the
    Gaussian model is undefined. ``chunk`` rows are processed at a time (memory N·L·chunk).
    """
    if isinstance(chunk, bool) or not isinstance(chunk, numbers.Integral) or chunk < 1:
        raise ValueError(f"chunk must be an integer >= 1 (rows per block), got {chunk!r}")
    f = _as_samples(samples)
    n, copies = f.shape
    mu = f.mean(axis=1)
    sigma2 = float(((f - mu[:, None]) ** 2).mean())
    if not sigma2 > 0:
        raise ValueError("the shared variance σ² is 0 (no example varies under augmentation); "
                         "the Gaussian estimate is undefined")
    # scale so that exp(−d²) is the Gaussian kernel: d = (f − μ) / √(2σ²)
    scale = math.sqrt(2.0 * sigma2)
    g, m = f / scale, mu / scale
    own = -((g - m[:, None]) ** 2)                       # (N, L): log-kernel of each copy's own example
    log_mix = np.empty_like(own)
    for start in range(0, n, chunk):
        a = -(g[start:start + chunk, :, None] - m[None, None, :]) ** 2   # (chunk, L, N)
        top = a.max(axis=2, keepdims=True)
        log_mix[start:start + chunk] = (top[..., 0] + np.log(np.exp(a - top).sum(axis=2))) - math.log(n)
    return float((own - log_mix).mean())


def mutual_information_bias(copies: int) -> float:
    """½·log(1 + 1/(L − 1)): the value Î takes on average, for large N, when f is Gaussian noise
    that does not depend on the example at all — the floor the estimate cannot go below at L copies.

    (The L sample means scatter with variance σ²/L around their common mean; the pooled
    within-example variance is σ²(L − 1)/L; a Gaussian channel with that signal-to-noise ratio
    1/(L − 1) carries ½·log(1 + 1/(L − 1)) nats.)
    """
    if isinstance(copies, bool) or not isinstance(copies, numbers.Integral) or copies < 2:
        raise ValueError(f"copies must be an integer ≥ 2, got {copies!r}")
    return 0.5 * math.log1p(1.0 / (copies - 1))
