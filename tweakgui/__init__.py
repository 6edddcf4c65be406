"""tweakgui: astrometric alignment of HST and JWST visits, with a GUI."""

__version__ = "0.1.0"
