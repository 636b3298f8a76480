"""Launcher for a checkout: `python main.py ...` runs the app as `edge-digits ...` does (edge/cli.py)."""
import sys

if __name__ == "__main__":
    from edge.launch import main  # its first step catches Ctrl-C: cv2 and the models load after

    sys.exit(main())
