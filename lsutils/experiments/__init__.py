"""Registered experiments: importing this package registers every one of them."""

from lsutils.experiments import first_experiment  # noqa: F401
from lsutils.experiments import accuracy_clustering  # noqa: F401
from lsutils.experiments import theory_gap  # noqa: F401
from lsutils.experiments import calibration  # noqa: F401
from lsutils.experiments import distillation  # noqa: F401
from lsutils.experiments import mnist_style  # noqa: F401
from lsutils.experiments import information  # noqa: F401
from lsutils.experiments import selective  # noqa: F401
from lsutils.experiments import transfer  # noqa: F401
from lsutils.experiments import collapse  # noqa: F401
from lsutils.experiments import myths  # noqa: F401
from lsutils.experiments import choosing_eps  # noqa: F401
from lsutils.experiments import alternatives  # noqa: F401
from lsutils.experiments import label_noise  # noqa: F401
