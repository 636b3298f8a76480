"""The launchers' first step (`edge-digits`, `python -m edge`, main.py): stop signals are caught
before the app's modules load, so a Ctrl-C while they do ends the run quietly (status 0)."""
import os
import signal
import sys

# Ctrl-C, kill, and a closed terminal (an SSH session dropped): each ends the run cleanly
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
EARLY_SIGNALS: list[int] = []  # stop signals received while the app was still loading
ON_TERMINAL: list[int] = []  # stdout and stderr if on a terminal at launch (a hung-up one no longer says so)


def _early_stop(signum, _frame):
    EARLY_SIGNALS.append(signum)
    hung_up(signum)


def hung_up(signum):
    """After SIGHUP the terminal is gone: writes to it would fail (EIO) on the way out, so the
    standard streams that were on it go to /dev/null. Pipes and files keep theirs."""
    if signum != getattr(signal, "SIGHUP", None):
        return
    null = os.open(os.devnull, os.O_WRONLY)
    for fd in ON_TERMINAL:
        try:
            os.dup2(null, fd)
        except OSError:
            pass
    os.close(null)


def catch_early_signals():
    ON_TERMINAL[:] = [fd for fd in (1, 2) if _isatty(fd)]
    for sig in STOP_SIGNALS:
        if not nohup(sig):
            signal.signal(sig, _early_stop)
    if hasattr(signal, "SIGUSR1"):  # a snapshot asked for too early is not worth dying of
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)


def nohup(sig) -> bool:
    """SIGHUP ignored at launch (`nohup`): it stays ignored. SIGINT and SIGTERM always stop the run
    (a shell starts background jobs with SIGINT ignored; `kill -INT` must still work)."""
    return sig == getattr(signal, "SIGHUP", None) and signal.getsignal(sig) is signal.SIG_IGN


def keep_std_streams():
    """A standard stream closed at launch (`2>&-`): /dev/null takes its descriptor (else the app's next
    file would, and OpenCV's warnings land in the JSON log), and messages go nowhere, not to stdout."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this one
    if sys.stderr is None:  # print(file=None) would write to stdout
        sys.stderr = open(os.devnull, "w")


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def main() -> int:
    """The app, its signals caught first."""
    catch_early_signals()
    keep_std_streams()
    from edge.cli import main as run_app  # argparse and the rest: ~10 ms, now covered
    return run_app()
