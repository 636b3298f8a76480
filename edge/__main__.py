"""`python -m edge`: the app, as the `edge-digits` command."""
import sys

from edge.cli import catch_early_signals, main

catch_early_signals()
sys.exit(main())
