"""lsutils: the code behind the executable book on label smoothing.

Targets, losses and closed forms (``targets``, ``losses``, ``theory``), data (``data``),
models and training (``models``, ``train``), the results store (``results``) and the
experiments registered in it (``experiments``). ``python -m lsutils --help`` is the CLI.
"""

__version__ = "0.1.0"
