"""chemaccel: make neural networks for chemistry smaller and faster.

The public names are listed in :mod:`chemaccel.api` and re-exported here.
"""

from chemaccel._version import __version__

__all__ = ["__version__"]
