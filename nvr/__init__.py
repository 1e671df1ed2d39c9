"""nvr: a network video recorder server for city CCTV networks."""

__version__ = "0.1.0"
