"""edge-digits: read digits live from a camera on small devices."""

PROG = "edge-digits"
