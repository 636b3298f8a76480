"""`python -m edge`: the app, as the `edge-digits` command."""
import sys

from edge.launch import main

sys.exit(main())
