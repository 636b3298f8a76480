"""edge-digits: read digits live from a camera, a video, images or the built-in demo.

The whole flow:  source (edge.capture) -> LineReader (edge.line_reader: detect lines ->
cut -> CTC recognizer -> track) -> outputs (edge.output: JSON lines, annotated video;
edge.share: web view, MQTT) and the window (edge.draw + edge.display), or headless.
`edge-digits`, `python -m edge` and the checkout's main.py run main() (through edge.launch).
"""
from __future__ import annotations

import argparse
import itertools
import os
import signal
import sys
import time
from pathlib import Path

from edge import CAPTURE_FPS, CAPTURE_SIZE, PROG, utf8_name, version, warn
from edge.launch import EARLY_SIGNALS, STOP_SIGNALS, hung_up, nohup
from edge.video_formats import VIDEO_EXTENSIONS


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2
        extra = message.partition("unrecognized arguments: ")[2].split()
        if extra and all(os.path.exists(a) for a in extra):  # the shell expanded an unquoted pattern
            message = (f"unrecognized arguments: {extra[0]}{f' and {len(extra) - 1} more' if extra[1:] else ''}; "
                       "quote a pattern so the app gets it whole: --source 'photos/*.jpg'")
        self.exit(2, f"{PROG}: error: {message} (see --help)\n")


class StdoutError(Exception):
    """Standard output failed (a full disk, a closed device): said in one line, status 2."""


def to_stdout(text: str | None = None):
    """One line on standard output (readings, --version); None: only flush what is there (--help).
    A pipe closed by its reader is not an error; a failing stdout (a full disk) is a StdoutError."""
    if sys.stdout is None:  # started with stdout closed
        return
    try:
        if text is not None:
            sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        raise StdoutError(f"cannot write to standard output: {e.strerror or e}") from None


class _Version(argparse.Action):
    """--version, looked up only when asked (importlib.metadata costs start-up time)."""

    def __init__(self, option_strings, dest, **kw):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        to_stdout(f"{PROG} {version()}")
        parser.exit()


MAX_SIDE = 7680  # pixels: 8K UHD (7680x4320), the largest capture the app is meant for
MAX_HEIGHT = 4320
MAX_FPS = 1000.0


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _size_up_to(limit: int):
    def size(text: str) -> int:
        value = _whole(text)
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(f"must be between 1 and {limit} pixels, got {text}")
        return value
    return size


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected frames per second, got {text!r}") from None
    if not 0.0 <= value <= MAX_FPS:  # also refuses nan (every comparison with it is false) and inf
        raise argparse.ArgumentTypeError(f"must be between 0 (as fast as possible) and {MAX_FPS:.0f}, got {text}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


MAX_TILES = 8  # 65 detector runs a frame: more would look like a hang


def _tile_count(text: str) -> int:
    value = positive_int(text)
    if value > MAX_TILES:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_TILES}, got {value}")
    return value


def _thread_count(text: str) -> int:
    value, cores = positive_int(text), os.cpu_count() or 1
    if value > cores:  # more threads than cores only contend (the recognizer keeps an interpreter per width)
        raise argparse.ArgumentTypeError(f"this machine has {cores} cores, got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _roi(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected x,y,w,h (four integers), got {text!r}") from None
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"x and y must be >= 0 and w, h > 0 (no negative values), got {text!r}")
    if max(x + w, y + h) > 16 * MAX_SIDE:
        raise argparse.ArgumentTypeError(f"reaches beyond any frame, got {text!r}")
    return x, y, w, h


def roi_outside(roi, width: int, height: int) -> bool:
    """True when the rectangle has no pixel in a width x height frame."""
    x, y, _, _ = roi
    return x >= width or y >= height


def _glue_negative_values(argv: list[str]) -> list[str]:
    """'--roi -10,...' -> '--roi=-10,...': argparse takes a value starting with '-' for an
    option and would say 'expected one argument' instead of what is wrong with it."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--roi" and i + 1 < len(argv) and argv[i + 1][:1] == "-" and argv[i + 1][1:2].isdigit():
            out.append(f"--roi={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog=PROG, description="Read digits live from a camera and show or log them.",
                       epilog="Window keys: q/Esc quit, space pause, s snapshot, d debug view. "
                              "Headless: --snapshot-every N, or kill -USR1 <pid> for one snapshot.")
    p.add_argument("--version", action=_Version, help="print the version and exit")
    src = p.add_argument_group("source")
    src.add_argument("--source", default="auto",
                     help="auto (camera 0, else the demo; with --mqtt, camera 0 only), demo, picam, a camera "
                          "index or /dev/videoN, a video file, an image, a folder or quoted glob of images, or an "
                          "rtsp/http URL: a stream, a snapshot (polled at --fps) or a video file (default: auto)")
    src.add_argument("--width", type=_size_up_to(MAX_SIDE),
                     help=f"capture width, 1-{MAX_SIDE} (default {CAPTURE_SIZE[0]})")
    src.add_argument("--height", type=_size_up_to(MAX_HEIGHT),
                     help=f"capture height, 1-{MAX_HEIGHT} (default {CAPTURE_SIZE[1]})")
    src.add_argument("--fps", type=_rate,
                     help=f"capture rate, 0-{MAX_FPS:.0f}; also the demo's pace, 0 = as fast as possible "
                          f"(default {CAPTURE_FPS:.0f})")
    src.add_argument("--exit-on-source-loss", action="store_true",
                     help="stop with status 1 when a live source stops, instead of reconnecting")
    det = p.add_argument_group("reading")
    det.add_argument("--charset", choices=["digits", "alnum"], default="digits",
                     help="numbers only, letters read and dropped (default), or letters and digits "
                          "(number plates)")
    det.add_argument("--tiles", type=_tile_count, metavar="N",
                     help=f"also look at an NxN grid of parts of a frame larger than the detector's 320x240 "
                          f"input, for small text, at N*N+1 times the detector's cost; 1-{MAX_TILES} (default: 3 "
                          "for pictures, 1 for video)")
    det.add_argument("--detector", metavar="PATH",
                     help="text-line detector (default: $EDGE_DIGITS_DETECTOR, else the shipped detector.tflite)")
    det.add_argument("--recognizer", metavar="PATH",
                     help="line recognizer (default: $EDGE_DIGITS_LINES_MODEL, else the shipped lines.tflite)")
    det.add_argument("--threads", type=_thread_count, default=1, help="interpreter threads (default 1)")
    det.add_argument("--min-confidence", "--threshold", dest="min_confidence", type=_fraction, metavar="C",
                     help="least confidence a line is read at, 0-1 (default: min_confidence in the "
                          "detector's metadata); --threshold is its old name")
    det.add_argument("--roi", type=_roi, help="only read inside x,y,w,h (pixels)")
    out = p.add_argument_group("output")
    out.add_argument("--json", metavar="PATH", help="write one JSON line per frame to PATH (- for stdout); "
                     "an existing file is appended to")
    out.add_argument("--save-video", metavar="PATH",
                     help=f"write the annotated video ({', '.join(VIDEO_EXTENSIONS)})")
    out.add_argument("--overwrite", action="store_true", help="truncate an existing --json file and replace "
                     "an existing --save-video file")
    out.add_argument("--max-frames", type=positive_int, help="stop after N frames")
    out.add_argument("--no-display", action="store_true", help="never open a window (automatic without a display)")
    out.add_argument("--snapshot-dir", default="snapshots",
                     help="where snapshots go, PNG + JSON (default snapshots/)")
    out.add_argument("--snapshot-every", type=positive_int, metavar="N",
                     help="save a snapshot every N frames (headless too); SIGUSR1 saves one at any time")
    out.add_argument("-q", "--quiet", action="store_true", help="no console messages besides errors")
    from edge.share import add_arguments as add_sharing_arguments  # --serve, --mqtt (issue 16)
    add_sharing_arguments(p)
    return p


class StopFlag:
    """SIGINT/SIGTERM/SIGHUP end the loop at the next frame boundary (so every JSON line is whole
    and the video is finalized); a second signal stops at once, except during clean-up."""

    def __init__(self):
        self.raised = bool(EARLY_SIGNALS)
        self._previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS if not nohup(sig)}

    def _handle(self, signum, _frame):
        hung_up(signum)
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True

    def ignore(self):
        for sig in self._previous:  # a hang-up during clean-up still moves the streams off the dead terminal
            signal.signal(sig, (lambda signum, _frame: hung_up(signum)) if sig == getattr(signal, "SIGHUP", None)
                          else signal.SIG_IGN)

    def restore(self):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


OPENCV_HEADLESS = "pip uninstall -y opencv-python && pip install 'opencv-python-headless>=4.9,<6'"


def opencv_missing(e: ImportError) -> str:
    """One line saying what to install when cv2 cannot be imported."""
    if isinstance(e, ModuleNotFoundError) and e.name == "cv2":
        return ("OpenCV is not installed: run 'pip install opencv-python' (without a desktop: "
                "'pip install opencv-python-headless')")
    why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return (f"OpenCV cannot load ({why}); without a desktop (Raspberry Pi OS Lite, servers) "
            f"use its headless build: {OPENCV_HEADLESS}")


class SnapshotSignal:
    """SIGUSR1 asks for a snapshot of the next frame: headless runs have no 's' key."""

    def __init__(self):
        self.wanted = False
        self._previous = signal.signal(signal.SIGUSR1, self._handle) if hasattr(signal, "SIGUSR1") else None

    def _handle(self, _signum, _frame):
        self.wanted = True

    def restore(self):
        if self._previous is not None:
            signal.signal(signal.SIGUSR1, self._previous)


def run(args, stop: StopFlag, snapshot: SnapshotSignal | None = None) -> int:
    # Imported here so that --help and argument errors answer instantly.
    import contextlib

    import cv2

    from edge.capture import SourceError, open_source
    from edge.display import Window, display_unavailable_reason
    from edge.output import JsonLinesWriter, OutputError, VideoSink, check_folder, check_writable

    _SNAPSHOT_ERRORS_SAID.clear()  # said once a run

    def say(message):
        if not args.quiet or message.startswith("error:"):  # -q silences all but errors
            _tell(message)

    # OpenCV's own log lines off (V4L2 probing camera 0, a damaged TIFF): the app reports problems itself
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    if stop.raised:  # stopped while the modules loaded: nothing started, nothing to say
        return 0
    with contextlib.ExitStack() as opened:  # closed in reverse: window, outputs, then the source
        # Everything that can fail on bad input fails here, before the first frame.
        fps = CAPTURE_FPS if args.fps is None else args.fps
        video = VideoSink(args.save_video, fps, args.overwrite) if args.save_video else None
        if args.json and args.json != "-":  # checked now, opened last: a failed start leaves it as it was
            check_writable(args.json, args.overwrite, refuse_existing=False)
        check_folder(args.snapshot_dir, "--snapshot-dir", make=bool(args.snapshot_every))  # else an 's' finds a file
        try:  # the demo's readings must not reach Home Assistant as a meter's
            source = open_source(args.source, args.width or CAPTURE_SIZE[0], args.height or CAPTURE_SIZE[1], fps,
                                 args.exit_on_source_loss, say, demo_fallback=not args.mqtt)
        except SourceError:
            if args.source == "auto":
                raise SourceError("no camera found, and with --mqtt the demo is not read in its place: give "
                                  "--source (--source demo publishes the demo's readings)") from None
            raise
        opened.callback(source.close)
        unused = [o for o, v in (("--width", args.width), ("--height", args.height)) if v]
        unused += ["--fps"] if args.fps is not None and (source.fps or not video) else []  # an image folder's video
        if source.files and unused:
            say(f"note: {' and '.join(unused)} set a camera's capture; files are read at their own size, "
                "as fast as they decode")
        for option, path in (("--json", args.json), ("--save-video", args.save_video)):
            if path and path != "-" and any(same_file(path, f) for f in source.files):
                raise OutputError(f"{option} {path} is a file the source reads; choose another name")
        reader, runtime = make_reader(args, pictures=source.still)
        if args.roi and source.size and roi_outside(args.roi, *source.size):
            raise SourceError(f"--roi {','.join(map(str, args.roi))} lies outside the "
                              f"{source.size[0]}x{source.size[1]} frames of {source.name}")
        if video:
            video.fps, video.paced = source.fps or fps, source.live
            opened.callback(video.close)
        from edge.share import open_shared  # the web view and MQTT, each given a FrameResult a frame
        shared = open_shared(args, say, lambda: make_reader(args, uploads=True)[0],  # its own, for uploaded photos
                             lambda: stop.raised)
        opened.callback(shared.close)
        log = JsonLinesWriter(args.json, args.overwrite) if args.json and not stop.raised else None
        if log:
            opened.callback(log.close)
        window = None
        if not args.no_display:
            why_not = display_unavailable_reason()
            try:
                window = None if why_not else Window()
            except cv2.error as e:
                why_not = f"cannot open a window ({str(e).strip().splitlines()[-1]})"
            if why_not:
                say(f"{why_not}: running headless")
            else:
                opened.callback(window.close)
        reader.keep_mask = window is not None  # only a window has a debug view to show
        if stop.raised:  # stopped while the model, source or outputs opened
            return 0
        opened.callback(stop.ignore)  # runs first: a second Ctrl-C cannot cut clean-up short
        say(f"reading {source.name} on {runtime}; "
            + ("q quits" if window else "Ctrl-C stops"))
        return read_loop(args, source, reader, log, video, window, stop, say, snapshot, shared)


def make_reader(args, pictures: bool = False, uploads: bool = False):
    """(the reader the options ask for, its runtime's name); a bad model is a ModelError.
    `pictures`: it reads still pictures, so it looks closer (--tiles). `uploads`: pictures sent
    to the web view, read whole: the camera's --roi is no place in them."""
    pictures = pictures or uploads
    from edge.detect import TextDetector
    from edge.infer.recognizer import LineRecognizer
    from edge.line_reader import LineReader
    detector = TextDetector(args.detector, num_threads=args.threads)
    recognizer = LineRecognizer(args.recognizer, num_threads=args.threads)
    roi = None if uploads else args.roi
    return (LineReader(detector, recognizer, args.charset, roi, args.min_confidence, tiles=args.tiles,
                       still=pictures), recognizer.runtime)


def read_loop(args, source, reader, log, video, window, stop, say, snapshot=None, shared=None) -> int:
    """Frames -> readings -> outputs, until the source ends, --max-frames, q or a signal."""
    from edge.capture import SourceLost
    from edge.display import KEY_QUIT
    from edge.draw import draw_result

    print_events = window is None and args.json != "-" and not args.quiet
    from edge.progress import Progress, progress_wanted

    on_terminal = progress_wanted(args.quiet, window is None)
    total = min(source.total, args.max_frames or source.total) if source.total else None
    progress = on_terminal and total  # a file of known length: a percentage

    def tell(line: str):
        if progress:  # the percentage line is taken off first (it is written again at the next update)
            print("\r\033[K", end="", file=sys.stderr, flush=True)
        to_stdout(line)

    ticker = Progress() if on_terminal and not source.total else None  # else a line every few seconds
    count, fps, last, paused, debug, status, result = 0, 0.0, time.perf_counter(), False, False, 0, None
    roi_warned, source_up = False, True
    try:
        for frame in source:
            if stop.raised:
                break
            if shared and source.lost == source_up:  # lost, or back: MQTT's availability follows
                source_up = not source.lost
                shared.source_available(source_up)
            if frame is not None:
                if args.roi and not roi_warned and roi_outside(args.roi, frame.image.shape[1], frame.image.shape[0]):
                    roi_warned = True  # a live source's size may change: a warning, once
                    say(f"warning: --roi {','.join(map(str, args.roi))} lies outside this "
                        f"{frame.image.shape[1]}x{frame.image.shape[0]} frame; nothing will be read")
                result = reader.process(frame)
                now = time.perf_counter()
                rate = 1.0 / max(now - last, 1e-6)
                fps = 0.0 if count == 0 else rate if count == 1 else 0.9 * fps + 0.1 * rate  # seeded, then smoothed
                last = now
                count += 1
                if log:
                    log.write(result)
                if shared:
                    shared.write(result, fps)
                if print_events and source.still:  # a picture: one line of all it shows
                    tell(image_line(frame.source, result.numbers))
                elif print_events:
                    for number in result.events:
                        tell(f"{frame.source} frame {frame.index}: {number.text} ({number.confidence:.2f})")
                if progress and (count % 10 == 0 or count == total):
                    print(f"\r{count}/{total} frames ({100 * count // total}%) {fps:5.1f} FPS",
                          end="", file=sys.stderr, flush=True)
                if ticker:
                    ticker.update(count, result.numbers)
                annotated = draw_result(result, fps, roi=args.roi) if (video or window is not None) else None
                if video:
                    video.write(annotated, frame.t)
                if (args.snapshot_every and count % args.snapshot_every == 0) or (snapshot and snapshot.wanted):
                    if snapshot:
                        snapshot.wanted = False
                    save_snapshot(args.snapshot_dir, result, annotated if annotated is not None
                                  else draw_result(result, fps, roi=args.roi), say)
            if window is not None:
                if frame is not None:
                    window.show(draw_result(result, fps, True, args.roi) if debug else annotated)
                key = window.key(1)
                waiting = frame is not None and source.still  # a picture stays up until a key
                while not stop.raised:
                    if key in KEY_QUIT:
                        stop.raised = True
                    elif key == ord("d") and result is not None:
                        debug = not debug
                        window.show(draw_result(result, fps, debug, args.roi))
                    elif key == ord("s") and result is not None:
                        save_snapshot(args.snapshot_dir, result, draw_result(result, fps, debug, args.roi), say)
                    elif key == ord(" "):
                        paused = not paused
                    elif key >= 0:
                        waiting = False  # any other key: the next picture
                    if stop.raised or not (paused or waiting):
                        break
                    key = window.key(50)
            if stop.raised or (args.max_frames and count >= args.max_frames):
                break
    except SourceLost as e:
        say(f"error: {e}")
        status = 1
    finally:
        if progress:
            print(file=sys.stderr)
    say(f"processed {plural(count, 'frame')}" + (f"; video saved to {args.save_video}" if video and video.received else ""))
    ran_out = status == 0 and not stop.raised and not (args.max_frames and count >= args.max_frames)
    if ran_out and shared and shared.web and window is None:  # the web view is how the pictures are looked at
        for output in (video, log):
            if output:
                output.close()  # finished now: the wait may end in a kill
        say(f"{source.name} ended; the web view stays up until Ctrl-C")
        while not stop.raised:
            time.sleep(0.1)
    return status


def same_file(a: str, b: str) -> bool:
    """Whether two paths are one file (through links, hard links and relative paths too)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one does not exist yet: not the same
        return False


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def image_line(path: str, numbers) -> str:
    """One console line per picture: every number read in it, in reading order."""
    read = ", ".join(f"{n.text} ({n.confidence:.2f})" for n in numbers)
    return f"{path}: {read or 'no numbers read'}"


_SNAPSHOT_ERRORS_SAID: set[str] = set()


def save_snapshot(folder, result, image, say):
    import json

    import cv2

    from edge.output import reading_record

    base = f"snapshot-{time.strftime('%Y%m%d-%H%M%S')}-{result.frame.index}"
    try:
        if not utf8_name(folder):  # OpenCV would crash the process writing the image
            raise OSError("its name is not valid UTF-8; rename it")
        Path(folder).mkdir(parents=True, exist_ok=True)
        for n in itertools.count(1):  # a second 's' on a paused frame, or another app: -2, -3 ...
            stem = Path(folder) / (base if n == 1 else f"{base}-{n}")
            if stem.with_suffix(".png").exists():
                continue
            try:
                with open(stem.with_suffix(".json"), "x") as f:  # the name is ours once this exists
                    f.write(json.dumps(reading_record(result)) + "\n")
                break
            except FileExistsError:
                continue
        if not cv2.imwrite(str(stem.with_suffix(".png")), image):
            stem.with_suffix(".json").unlink(missing_ok=True)  # no record without its image
            raise OSError("the image could not be written")
    except OSError as e:
        message = f"snapshot not saved in {folder}: {e.strerror or e}"
        if message not in _SNAPSHOT_ERRORS_SAID:  # once, not every --snapshot-every frame; -q or not
            _SNAPSHOT_ERRORS_SAID.add(message)
            _error(message)
        return
    say(f"saved {stem}.png and .json")


def _tell(message: str):
    """A line on stderr, if it can be written: a full or closed one (a terminal hung up) is not
    worth the run, nor does it change its exit status."""
    try:
        warn(message)
    except (OSError, ValueError):
        pass


def _error(message: str) -> int:
    """Says an error; the exit status of one: 2."""
    _tell(f"error: {message}")
    return 2


def main(argv=None) -> int:
    stop = StopFlag()  # before the heavy imports: a first Ctrl-C while they load ends the run quietly
    snapshot = SnapshotSignal()  # likewise: SIGUSR1's default action would end the process
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(_glue_negative_values(sys.argv[1:] if argv is None else list(argv)))
        except SystemExit:  # --help (or an argument error) written: a stdout that failed is said
            to_stdout()
            raise
        from edge.share import stray_option
        if stray_option(args):
            parser.error(stray_option(args))
        for option, path in (("--json", args.json), ("--save-video", args.save_video),
                             ("--snapshot-dir", args.snapshot_dir), ("--detector", args.detector),
                             ("--recognizer", args.recognizer)):
            if path is not None and not path.strip():
                parser.error(f"{option} needs a name, not an empty one")
        if args.json and args.json != "-" and args.save_video and same_file(args.json, args.save_video):
            parser.error(f"--json and --save-video name the same file ({args.save_video}): one would overwrite the other")

        try:  # (edge/__init__ has set OpenCV's environment before this first import)
            import cv2  # noqa: F401  (first import: every module below needs it)
        except ImportError as e:  # e.g. the GUI build on a system without X libraries (Pi OS Lite)
            return _error(opencv_missing(e))
        from edge.capture import SourceError
        from edge.infer import ModelError
        from edge.output import OutputError

        try:
            return run(args, stop, snapshot)
        except (SourceError, ModelError, OutputError) as e:
            return _error(str(e))
    except StdoutError as e:
        return _error(str(e))
    except KeyboardInterrupt:  # a second Ctrl-C: stop at once
        return 130
    except BrokenPipeError:  # e.g. `--json - | head`
        return 0
    finally:
        stop.restore()
        snapshot.restore()

