"""Krita plug-in: Tools › Scripts › Headshot (lichtbild)…"""
from krita import Krita

from .headshot import HeadshotExtension, make_headshot  # noqa: F401  (make_headshot: batch entry)

Krita.instance().addExtension(HeadshotExtension(Krita.instance()))
