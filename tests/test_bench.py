"""The bench's own pieces: how it frames photos and what it records beside its times."""
import numpy as np
import pytest


def test_the_bench_frames_a_portrait_photo_whole_not_squashed(tmp_path):
    import cv2
    from edge.bench import photo_frames
    photo = np.zeros((200, 100, 3), np.uint8)
    photo[:, :50] = 255  # its left half white
    cv2.imwrite(str(tmp_path / "portrait.png"), photo)
    frame = next(photo_frames([tmp_path / "portrait.png"], 640, 480, 1)).image
    assert frame.shape == (480, 640, 3)
    assert (frame[:, :200] == 128).all() and (frame[:, 440:] == 128).all()  # grey either side of a 240-px page
    assert (frame[:, 200:320] == 255).all() and (frame[:, 320:440] == 0).all()


def test_camera_frames_are_framed_before_the_timing_and_copied_a_frame(tmp_path, monkeypatch):
    """Each photo decoded once (not before every frame, which left the reader's caches cold);
    each frame its own copy, as a camera's buffer."""
    import cv2

    import edge.bench as bench
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((30, 40, 3), 50 * i, np.uint8))
    reads, imread = [], cv2.imread
    monkeypatch.setattr(bench.cv2, "imread", lambda p, *a: reads.append(p) or imread(p, *a))
    frames = bench.camera_frames(sorted(tmp_path.glob("*.png")), 64, 48, 7)
    assert len(reads) == 3  # all decoded before the first frame is asked for
    images = [f.image for f in frames]
    assert len(reads) == 3 and [int(im[24, 32, 0]) for im in images] == [0, 50, 100, 0, 50, 100, 0]
    assert len({id(im) for im in images}) == 7 and [f.index for f in bench.camera_frames([], 64, 48, 0)] == []


def test_the_bench_records_the_versions_its_times_depend_on():
    import cv2
    from edge.bench import package_versions
    from edge.infer.runtime import interpreter_class
    runtime = interpreter_class()[1]
    versions = package_versions(runtime)
    assert versions["opencv"] == cv2.__version__ and versions["numpy"] == np.__version__
    assert versions[runtime] and versions[runtime][0].isdigit()


@pytest.mark.parametrize("text, model, features", [
    ("processor\t: 0\nmodel\t\t: 2\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512_vnni sse\n",
     "AMD EPYC", ["avx2", "avx512_vnni"]),
    ("processor\t: 0\nmodel name\t: ARMv7 Processor rev 4 (v7l)\nFeatures\t: half neon\n"
     "Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 3 Model B\n", "Raspberry Pi 3 Model B", []),
    ("Hardware\t: BCM2835\nFeatures\t: fp asimd asimddp\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n",
     "Raspberry Pi 5 Model B Rev 1.0", ["asimddp"]),
])
def test_the_bench_names_the_processor_and_its_int8_features(tmp_path, text, model, features):
    from edge.bench import processor
    (tmp_path / "cpuinfo").write_text(text)
    assert processor(str(tmp_path / "cpuinfo")) == {"model": model, "int8_features": features}
    assert processor(str(tmp_path / "missing")) == {}


def test_the_web_views_cost_is_measured_with_and_without_viewers():
    from edge.bench import viewer_cost
    v = viewer_cost(1, frames=10, viewers=2, repeats=2)
    assert v["fps_no_viewer"] > 0 and v["fps_2_viewers"] > 0 and len(v["runs"]["2"]) == 2


def test_picture_files_are_timed_as_the_app_reads_a_picture(tmp_path):
    """Full size, read once each (a closer look): small text a camera frame would miss is read."""
    import cv2
    from edge.bench import pictures_cost
    image = np.full((1500, 2000, 3), 230, np.uint8)
    for k in range(6):
        cv2.putText(image, "4711", (150 + 300 * k, 200 + 200 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (20, 20, 20), 2)
    paths = [tmp_path / f"{i}.jpg" for i in range(2)]
    for p in paths:
        cv2.imwrite(str(p), image)
    r = pictures_cost(paths, repeats=2)
    assert (r["pictures"], r["size"], len(r["medians_of_repeats"])) == (2, "2000x1500", 2)
    assert r["digits_per_picture"] >= 20 and 0 < r["median_ms"] <= r["p95_ms"]
