"""edge-digits: read digits live from a camera on small devices."""

PROG = "edge-digits"
VERSION = "0.1.0"  # the version when not installed (a checkout); keep equal to setup.cfg's


def version() -> str:
    """The installed distribution's version, else VERSION."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed
    try:
        return installed(PROG)
    except PackageNotFoundError:
        return VERSION
