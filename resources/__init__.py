"""chemaccel's shipped models (``models/``) and example files (``examples/``), installed as package data.

Imported as ``chemaccel_resources``; :mod:`chemaccel.shipped` finds the folders through importlib.resources.
"""
