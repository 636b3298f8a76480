"""edge-digits: read digits live from a camera, a video, images or the built-in demo.

The whole flow:  source (edge.capture) -> DigitReader (edge.pipeline: segment ->
normalize -> one batched int8 TFLite call -> a second look at unsure digits -> group ->
track) -> outputs (edge.output: JSON lines, annotated video) and the window (edge.draw +
edge.display), or headless.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from edge import PROG


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2
        self.exit(2, f"{PROG}: error: {message} (see --help)\n")


def _size(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _roi(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected x,y,w,h (four integers), got {text!r}") from None
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"x and y must be >= 0 and w, h > 0, got {text!r}")
    return x, y, w, h


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog=PROG, description="Read digits live from a camera and show or log them.",
                       epilog="Window keys: q/Esc quit, space pause, s snapshot, d debug view.")
    src = p.add_argument_group("source")
    src.add_argument("--source", default="auto",
                     help="auto (camera 0, else the demo), demo, picam, a camera index or /dev/videoN, "
                          "a video file, an image, a folder or glob of images, or an rtsp/http URL "
                          "(default: auto)")
    src.add_argument("--width", type=_size, default=640, help="capture width (default 640)")
    src.add_argument("--height", type=_size, default=480, help="capture height (default 480)")
    src.add_argument("--fps", type=float, default=30.0, help="capture rate; also the demo's pace (default 30)")
    src.add_argument("--exit-on-source-loss", action="store_true",
                     help="stop with status 1 when a live source stops, instead of reconnecting")
    det = p.add_argument_group("reading")
    det.add_argument("--model", help="TFLite model (default: models/digits.tflite, or $EDGE_DIGITS_MODEL)")
    det.add_argument("--threads", type=_positive, default=1, help="interpreter threads (default 1)")
    det.add_argument("--threshold", type=_fraction, help="minimum digit confidence (default: from the model's metadata)")
    det.add_argument("--roi", type=_roi, help="only read inside x,y,w,h (pixels)")
    det.add_argument("--polarity", choices=["both", "dark", "light"], default="both",
                     help="dark ink on light, light on dark, or both (default)")
    det.add_argument("--min-height", type=_positive, default=10, help="smallest digit height in pixels (default 10)")
    det.add_argument("--max-regions", type=_positive, default=64, help="cap on candidates per frame (default 64)")
    out = p.add_argument_group("output")
    out.add_argument("--json", metavar="PATH", help="write one JSON line per frame to PATH (- for stdout); "
                     "an existing file is appended to")
    out.add_argument("--save-video", metavar="PATH", help="write the annotated video (.mp4 or .avi)")
    out.add_argument("--overwrite", action="store_true", help="truncate an existing --json file and replace "
                     "an existing --save-video file")
    out.add_argument("--max-frames", type=_positive, help="stop after N frames")
    out.add_argument("--no-display", action="store_true", help="never open a window (automatic without a display)")
    out.add_argument("--snapshot-dir", default="snapshots", help="where the s key saves PNG + JSON (default snapshots/)")
    out.add_argument("-q", "--quiet", action="store_true", help="no console messages besides errors")
    from edge.share import add_arguments as add_sharing_arguments  # --serve, --mqtt (issue 16)
    add_sharing_arguments(p)
    return p


class StopFlag:
    """SIGINT/SIGTERM end the loop at the next frame boundary (so every JSON line is whole
    and the video is finalized); a second signal stops at once, except during clean-up."""

    def __init__(self):
        self.raised = False
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    def _handle(self, signum, _frame):
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True

    def ignore(self):
        for sig in self._previous:
            signal.signal(sig, signal.SIG_IGN)

    def restore(self):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def run(args) -> int:
    # Imported here so that --help and argument errors answer instantly.
    import contextlib

    import cv2

    from edge.capture import open_source
    from edge.display import Window, display_unavailable_reason
    from edge.infer import DigitClassifier
    from edge.output import JsonLinesWriter, VideoSink
    from edge.pipeline import DigitReader
    from edge.segment import SegmentParams

    def say(message):
        if not args.quiet:
            print(f"{PROG}: {message}", file=sys.stderr, flush=True)

    # OpenCV's own warnings off (e.g. V4L2 probing camera 0): the app reports problems itself
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    stop = StopFlag()
    try:
        with contextlib.ExitStack() as opened:  # closed in reverse: window, outputs, then the source
            # Everything that can fail on bad input fails here, before the first frame.
            video = VideoSink(args.save_video, args.fps, args.overwrite) if args.save_video else None
            classifier = DigitClassifier(args.model, num_threads=args.threads, threshold=args.threshold)
            params = SegmentParams(min_height=args.min_height, max_regions=args.max_regions,
                                   polarity=args.polarity, roi=args.roi)
            reader = DigitReader(classifier, params)
            source = open_source(args.source, args.width, args.height, args.fps, args.exit_on_source_loss)
            opened.callback(source.close)
            if video:
                video.fps = source.fps or args.fps
                opened.callback(video.close)
            log = JsonLinesWriter(args.json, args.overwrite) if args.json else None
            if log:
                opened.callback(log.close)
            from edge.share import open_shared  # the web view and MQTT, each given a FrameResult a frame
            shared = open_shared(args, say, lambda: DigitReader(
                DigitClassifier(args.model, threshold=args.threshold), params))  # a reader for uploaded photos
            opened.callback(shared.close)
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
            opened.callback(stop.ignore)  # runs first: a second Ctrl-C cannot cut clean-up short
            say(f"reading {source.name} with {classifier.runtime}; " + ("q quits" if window else "Ctrl-C stops"))
            return read_loop(args, source, reader, log, video, window, stop, say, shared)
    finally:
        stop.restore()


def read_loop(args, source, reader, log, video, window, stop, say, shared=None) -> int:
    """Frames -> readings -> outputs, until the source ends, --max-frames, q or a signal."""
    from edge.capture import SourceLost
    from edge.display import KEY_QUIT
    from edge.draw import draw_result

    print_events = window is None and args.json != "-" and not args.quiet
    progress = window is None and source.total and not args.quiet and sys.stderr.isatty()
    count, fps, last, paused, debug, status, result = 0, 0.0, time.perf_counter(), False, False, 0, None
    try:
        for frame in source:
            if stop.raised:
                break
            if frame is not None:
                result = reader.process(frame)
                now = time.perf_counter()
                fps = 0.9 * fps + 0.1 / max(now - last, 1e-6) if count else 0.0
                last = now
                count += 1
                if log:
                    log.write(result)
                if shared:
                    shared.write(result, fps)
                if print_events:
                    for number in result.events:
                        print(f"{frame.source} frame {frame.index}: {number.text} ({number.confidence:.2f})", flush=True)
                if progress and (count % 10 == 0 or count == source.total):
                    print(f"\r{count}/{source.total} frames ({100 * count // source.total}%) {fps:5.1f} FPS",
                          end="", file=sys.stderr, flush=True)
                annotated = draw_result(result, fps) if (video or window is not None) else None
                if video:
                    video.write(annotated)
            if window is not None:
                if frame is not None:
                    window.show(draw_result(result, fps, True) if debug else annotated)
                key = window.key(1)
                waiting = frame is not None and source.still  # a picture stays up until a key
                while not stop.raised:
                    if key in KEY_QUIT:
                        stop.raised = True
                    elif key == ord("d") and result is not None:
                        debug = not debug
                        window.show(draw_result(result, fps, debug))
                    elif key == ord("s") and result is not None:
                        save_snapshot(args.snapshot_dir, result, draw_result(result, fps, debug), say)
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
    say(f"processed {count} frames" + (f"; video saved to {args.save_video}" if video and video.frames else ""))
    return status


def save_snapshot(folder, result, image, say):
    import json

    import cv2

    from edge.output import reading_record

    stem = Path(folder) / f"snapshot-{time.strftime('%Y%m%d-%H%M%S')}-{result.frame.index}"
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(stem.with_suffix(".png")), image):
            raise OSError("the image could not be written")
        stem.with_suffix(".json").write_text(json.dumps(reading_record(result)) + "\n")
    except OSError as e:
        say(f"snapshot not saved to {folder}: {e.strerror or e}")
        return
    say(f"saved {stem}.png and .json")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from edge.capture import SourceError
    from edge.infer import ModelError
    from edge.output import OutputError

    try:
        return run(args)
    except (SourceError, ModelError, OutputError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `--json - | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
