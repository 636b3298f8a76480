"""Launcher for a checkout: `python main.py ...` runs the app as `edge-digits ...` does (edge/cli.py)."""
import sys

if __name__ == "__main__":
    from edge.cli import catch_early_signals, main  # light: cv2 and the models load later

    catch_early_signals()  # first thing after that: a Ctrl-C while the app loads ends it quietly
    sys.exit(main())
