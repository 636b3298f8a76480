"""The training code on a tiny subset: train, export to int8, the interpreter agrees."""
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, need, need_module

tf = need_module("tensorflow")


def test_tiny_training_run_exports_an_agreeing_int8_model(tmp_path, mnist, data_root):
    need(data_root / "orand-car-a-train", "orand-car-a-train")
    need(data_root / "sudoku-train", "sudoku-train")
    from convert.datasets import MixSizes, mnist_part, training_mix
    from convert.export import to_int8_tflite, write_metadata
    from convert.train import pose_weights, train
    from edge.infer import DigitClassifier
    from edge.normalize import normalize_crop

    x, y, counts = training_mix(MixSizes().scaled(0.01), seed=1, mnist=mnist, log=lambda m: None)
    assert set(counts) == {"mnist", "mnist-camera", "printed", "segments", "clutter", "orand", "sudoku"}
    assert counts["sudoku"] > 1000 and counts["orand"] > 1000  # real crops are in the mix
    assert set(np.unique(y)) == set(range(11)) and x.shape[1:] == (28, 28) and x.dtype == np.uint8
    tune = {normalize_crop(im, False).tobytes() for im in mnist_part(mnist[0], mnist[1], "tune")[0]}
    assert not any(im.tobytes() in tune for im in x[:counts["mnist"]])  # MNIST's tuning part stays out
    model, history = train(x, y, epochs=2, batch=64, verbose=0, augment="handwritten", pose=pose_weights(counts))
    assert history["accuracy"][-1] > 0.6  # it learned something in two epochs
    path = tmp_path / "tiny.tflite"
    path.write_bytes(to_int8_tflite(model, x[:200]))
    write_metadata(path, path.read_bytes(), {"mix": counts})
    samples = np.stack([normalize_crop(im, False) for im in mnist[2][:300]])[..., None]
    keras_top = model.predict(samples.astype(np.float32), verbose=0).argmax(axis=1)
    int8_top = DigitClassifier(path).probabilities(samples).argmax(axis=1)
    assert (keras_top == int8_top).mean() >= 0.98


def test_mnist_tuning_part_is_every_twelfth_image():
    from convert.datasets import mnist_part

    x, y = np.arange(60).reshape(60, 1, 1), np.arange(60) % 10
    (xt, yt), (xr, yr) = mnist_part(x, y, "tune"), mnist_part(x, y, "train")
    assert xt.ravel().tolist() == list(range(0, 60, 12)) and yt.tolist() == [0, 2, 4, 6, 8]
    assert len(xr) == 55 and not set(xt.ravel()) & set(xr.ravel())


def test_pose_jitter_turns_only_the_samples_it_is_asked_to():
    from convert.train import pose_weights, random_affine

    assert pose_weights({"mnist": 2, "printed": 1, "orand": 1}).tolist() == [1, 1, 0, 1]
    images = np.zeros((64, 28, 28, 1), np.float32)
    images[:, 4:24, 13:15] = 255  # a vertical bar
    pose = np.array([0.0, 1.0] * 32, np.float32)
    out = random_affine(tf.constant(images), tf.random.Generator.from_seed(0), shift=0.0, pose=pose).numpy()
    assert np.abs(out[pose == 0] - images[pose == 0]).max() < 1e-3  # shift 0, no pose: untouched
    assert np.abs(out[pose == 1] - images[pose == 1]).max(axis=(1, 2, 3)).min() > 1  # every one turned


def test_the_schedule_trains_its_stages_on_one_mix_weighted_per_stage(tmp_path, monkeypatch, mnist, data_root):
    need(data_root / "orand-car-a-train", "orand-car-a-train")
    import json

    import convert.train as T

    monkeypatch.setattr(T, "SCHEDULE", (T.Stage(1, 2e-3, mnist_copies=1, orand_copies=100),
                                        T.Stage(1, 4e-4, mnist_copies=2, orand_copies=200)))
    out = tmp_path / "staged.keras"
    assert T.main(["--scale", "0.01", "--out", str(out)]) == 0
    info = json.loads(out.with_suffix(".train.json").read_text())
    first, second = (stage["mix"] for stage in info["stages"])
    assert second["mnist"] == 2 * first["mnist"] and second["orand"] == 2 * first["orand"]  # cuts: 1, then 2
    assert second["clutter"] == first["clutter"] and info["mix"] == second
    assert len(info["history"]["loss"]) == 2 and out.is_file() and out.with_suffix(".curves.png").is_file()


def test_one_stage_options_without_epochs_are_refused_not_ignored(capsys):
    import convert.train as T

    for args in (["--lr", "1e-3"], ["--orand-copies", "16"], ["--epochs", "1", "--mnist-copies", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            T.main(args)
        assert exit_info.value.code == 2 and "error:" in capsys.readouterr().err


def test_real_crops_are_split_by_image(data_root):
    need(data_root / "sudoku-train", "sudoku-train")
    from convert.datasets import load_orand, split_of
    names = [im.file.name for im in load_orand()]
    held = [n for n in names if split_of(n) == "heldout"]
    assert 0.12 < len(held) / len(names) < 0.28  # about a fifth, by image


def test_sudoku_photos_are_read_as_stored_not_turned_by_a_wrong_exif_tag(data_root):
    # image1043 is tagged "rotate 90 degrees", but its stored pixels (960 wide, 1280 high, as
    # its .dat says) show the puzzle upright; turned, the grid's digits lie on their side
    photo = data_root / "sudoku-train" / "image1043.jpg"
    need(photo, "sudoku-train")
    import cv2
    from convert.datasets import read_data_image
    assert cv2.imread(str(photo)).shape[:2] == (960, 1280)  # OpenCV honours the tag by default
    assert read_data_image(photo).shape[:2] == (1280, 960)
    assert photo.with_suffix(".dat").read_text().splitlines()[1].startswith("960x1280")


def test_same_seed_same_mix():
    from convert.datasets import synthetic
    a = synthetic("printed", 50, seed=3)
    b = synthetic("printed", 50, seed=3)
    c = synthetic("clutter", 50, seed=4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert (c[1] == 10).all() and not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("module", ["convert.train", "convert.evaluate"])
def test_missing_or_corrupt_mnist_is_one_clear_line(tmp_path, module):
    corrupt = tmp_path / "mnist.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip file")
    for path, words in ((tmp_path / "nowhere.npz", "not found"), (corrupt, "unreadable")):
        args = ["--mnist", str(path)] if module == "convert.train" else ["--mnist", str(path), "--limit", "10"]
        r = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 2, r.stderr[-2000:]
        errors = [line for line in r.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1 and words in errors[0] and "Traceback" not in r.stderr
        assert str(path) in errors[0]


def test_a_file_that_is_no_model_or_another_model_is_one_clear_line(tmp_path):
    from convert.datasets import DataError
    from convert.export import read_keras
    garbage = tmp_path / "digits.keras"
    garbage.write_bytes(b"not a model")
    with pytest.raises(DataError, match="not a readable Keras model"):
        read_keras(garbage, (28, 28, 1), "digit classifier")
    with pytest.raises(DataError, match="another model"):
        read_keras(ROOT / "models" / "digits.keras", (32, None, 1), "line recognizer")
    assert read_keras(ROOT / "models" / "lines.keras", (32, None, 1), "line recognizer").output_shape[-1] == 41
    for model in ([], ["--model", "recognizer"], ["--model", "detector"]):
        r = subprocess.run([sys.executable, "-m", "convert.export", *model, "--keras", str(garbage),
                            "--out", str(tmp_path / "x.tflite")], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 2 and "Traceback" not in r.stderr and "not a readable Keras model" in r.stderr, r.stderr


@pytest.mark.parametrize("args, words", [
    (["--batch", "0"], "--batch must be >= 1"), (["--out", "runs/tiny"], "must end in .keras"),
    (["--init", "{garbage}"], "not a readable Keras model"),
    (["--init", "models/lines.keras"], "not (28, 28, 1)"),  # a model, of another kind
    (["--model", "recognizer", "--out", "runs/tiny"], "must end in .keras"),
    (["--model", "detector", "--out", "runs/tiny"], "must end in .keras"),
    (["--model", "detector", "--init", "{garbage}", "--out", "{tmp}/d.keras"], "not a readable Keras model"),
    (["--out", "{garbage}/digits.keras"], "old.keras is a file, not a folder"),  # found only at the save before
    (["--model", "recognizer", "--out", "{garbage}/lines.keras"], "old.keras is a file, not a folder"),
    (["--seed", "-1"], "--seed: must be >= 0"), (["--model", "detector", "--seed", "-1"], "--seed: must be >= 0"),
    (["--model", "recognizer", "--seed", "-1"], "--seed: must be >= 0"),
    (["--model", "detector", "--out", "{tmp}"], "must end in .keras"),
    (["--model", "detector", "--out", "{tmp}/dir.keras"], "is a folder"),
])
def test_training_options_that_would_fail_late_are_refused_at_once(tmp_path, args, words):
    """Found before the data is built (minutes), not when Keras saves (after the training)."""
    garbage = tmp_path / "old.keras"
    garbage.write_bytes(b"not a model")
    (tmp_path / "dir.keras").mkdir()
    args = [a.format(garbage=garbage, tmp=tmp_path) for a in args]
    r = subprocess.run([sys.executable, "-m", "convert.train", *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "building" not in r.stdout


@pytest.mark.parametrize("command, words", [
    (["convert.export", "--keras", "{keras}", "--out", "{keras}"], "must end in .tflite"),  # was overwritten, status 0
    (["convert.export", "--keras", "{keras}", "--out", "{tmp}/m.json"], "must end in .tflite"),  # then .json over it
    (["convert.export", "--model=recognizer", "--out", "{tmp}/dir"], "must end in .tflite"),  # the = form too
    (["convert.export", "--model", "detector", "--out", "{keras}/x.tflite"], "is a file, not a folder"),
    (["convert.smallest_text", "--json", "{tmp}/dir"], "is a folder"),
    (["convert.devsets", "--out", "{tmp}/dir"], "is a folder"),
    (["convert.devsets", "--save-dir", "{keras}"], "k.keras is a file, not a folder"),
    (["convert.soup", "--out", "{tmp}/dir.keras", "{keras}", "{keras}"], "is a folder"),
    (["convert.export", "--model", "detector", "--keras", "{keras}", "--out", "{tmp}/d.tflite"],
     "not the detector's (240, 320, 1)"),  # said before 300 calibration scenes were built
])
def test_convert_outputs_that_would_fail_late_are_refused_at_once(tmp_path, command, words):
    """A folder or a file in the way was a traceback at the end of the run (ten minutes for
    devsets), and an export could write over the model it read."""
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir.keras").mkdir()
    keras_file = tmp_path / "k.keras"
    keras_file.write_bytes((ROOT / "models" / "digits.keras").read_bytes())
    args = [a.format(keras=keras_file, tmp=tmp_path) for a in command[1:]]
    r = subprocess.run([sys.executable, "-m", command[0], *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert keras_file.read_bytes() == (ROOT / "models" / "digits.keras").read_bytes()


def test_fused_batch_norm_trains_and_infers_as_keras_batch_norm():
    """The training layer must be a drop-in: same outputs, gradients and moving statistics as
    keras.layers.BatchNormalization, so its weights can be saved into the plain model."""
    import keras

    from convert.fused_norm import FusedBatchNorm

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(3.0, 2.0, (16, 7, 7, 8)).astype(np.float32))
    plain, fused = keras.layers.BatchNormalization(), FusedBatchNorm()
    plain.build(x.shape), fused.build(x.shape)
    start = [rng.uniform(0.5, 2, 8), rng.normal(0, 1, 8), rng.normal(0, 1, 8), rng.uniform(0.5, 2, 8)]
    plain.set_weights(start), fused.set_weights(start)
    assert [w.name for w in fused.weights] == [w.name for w in plain.weights]  # the order set_weights relies on
    np.testing.assert_allclose(fused(x, training=False), plain(x, training=False), atol=1e-5)

    results = []
    for layer in (plain, fused):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * tf.cos(y))  # a loss whose gradient differs per element
        results.append((y, *tape.gradient(loss, [x, layer.gamma.value, layer.beta.value])))
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, atol=1e-4, rtol=1e-4)
    assert np.abs(plain.get_weights()[2] - start[2]).max() > 1e-3  # the moving mean did move
    np.testing.assert_allclose(fused.get_weights()[2], plain.get_weights()[2], atol=1e-6)
    # TensorFlow's kernel updates the moving variance with the unbiased batch variance (n / (n - 1))
    np.testing.assert_allclose(fused.get_weights()[3], plain.get_weights()[3], rtol=2e-4)


def test_the_trained_model_copies_into_the_plain_model_weight_for_weight():
    # what convert.train saves: the fused-norm model's weights in the plain model, in order
    from convert.train import build_model, plain_copy

    rng = np.random.default_rng(1)
    fused = build_model(fused_norm=True)
    for layer in fused.layers:  # distinct statistics in each of the four norm weights
        if type(layer).__name__ == "FusedBatchNorm":
            gamma, beta, mean, variance = (w.shape for w in layer.get_weights())
            layer.set_weights([rng.uniform(0.5, 1.5, gamma), rng.normal(0, 0.3, beta),
                               rng.normal(0, 0.3, mean), rng.uniform(0.5, 2.0, variance)])
    x = rng.integers(0, 255, (16, 28, 28, 1)).astype(np.float32)
    expected = fused.predict(x, verbose=0)
    assert expected.max(axis=1).mean() < 0.9  # not saturated: a wrong copy would show
    plain = plain_copy(fused)
    assert not any(type(layer).__name__ == "FusedBatchNorm" for layer in plain.layers)
    np.testing.assert_allclose(plain.predict(x, verbose=0), expected, atol=1e-5)


def test_soft_targets_are_the_teachers_geometric_mean_softened_by_the_temperature():
    from convert.distill import soften

    teachers = np.array([[[0.7, 0.2, 0.1]], [[0.5, 0.4, 0.1]]])
    mean_log = np.log(teachers).mean(axis=0)
    geometric = np.sqrt(teachers[0] * teachers[1])
    assert np.allclose(soften(mean_log, 1.0), geometric / geometric.sum())
    warm = soften(mean_log, 2.0)
    assert np.allclose(warm.sum(), 1) and warm.argsort().tolist() == geometric.argsort().tolist()
    assert warm.max() < soften(mean_log, 1.0).max()  # flatter: the runner-up shows


def test_the_teachers_are_averaged_in_log_probability_chunk_by_chunk(monkeypatch):
    import convert.distill as D

    class Constant:  # a teacher that gives every image the same probabilities
        def __init__(self, probs):
            self.probs = np.array(probs, np.float32)

        def predict(self, x, batch_size, verbose):
            assert x.dtype == np.float32 and x.shape[1:] == (28, 28, 1) and len(x) <= 3
            return np.tile(self.probs, (len(x), 1))

    monkeypatch.setattr(D, "CHUNK", 3)
    x = np.zeros((7, 28, 28), np.uint8)
    mean = D.ensemble_log_probs([Constant([0.7, 0.2, 0.1]), Constant([0.5, 0.4, 0.1])], x, log=lambda m: None)
    geometric = np.sqrt(np.array([0.35, 0.08, 0.01]))
    assert mean.shape == (7, 3) and np.allclose(D.soften(mean, 1.0), geometric / geometric.sum())


def test_distillation_loss_is_the_label_loss_at_weight_0_and_least_where_the_student_matches_at_1():
    import keras

    from convert.distill import distillation_loss, distillation_targets, soften

    labels = np.array([0, 2])
    student = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]], np.float32)
    teacher = soften(np.log(student), 2.0)
    targets = distillation_targets(teacher, labels, 3)
    plain = keras.losses.sparse_categorical_crossentropy(labels, student).numpy()
    assert np.allclose(distillation_loss(2.0, 0.0, 3)(targets, student).numpy(), plain, atol=1e-5)
    at_match = distillation_loss(2.0, 1.0, 3)(targets, student).numpy()
    entropy = -(teacher * np.log(teacher)).sum(axis=1) * 4  # T^2 x the teachers' own entropy
    assert np.allclose(at_match, entropy, atol=1e-4)
    other = np.array([[0.1, 0.3, 0.6], [0.6, 0.2, 0.2]], np.float32)
    assert (distillation_loss(2.0, 1.0, 3)(targets, other).numpy() > at_match + 0.1).all()


def test_a_distilled_student_learns_what_its_teachers_say_not_only_the_labels(tmp_path, mnist, data_root):
    need(data_root / "orand-car-a-train", "orand-car-a-train")
    import json

    import keras

    import convert.train as T
    from edge.normalize import normalize_crop

    teacher = T.build_model()  # says "7" whatever it is shown
    kernel, bias = teacher.layers[-1].get_weights()
    teacher.layers[-1].set_weights([np.zeros_like(kernel), np.where(np.arange(len(bias)) == 7, 10.0, 0.0)])
    teacher_path = tmp_path / "sevens.keras"
    teacher.save(teacher_path)
    out = tmp_path / "student.keras"
    assert T.main(["--scale", "0.01", "--epochs", "1", "--teachers", str(teacher_path), "--soft-weight", "1",
                   "--temperature", "1", "--out", str(out)]) == 0
    info = json.loads(out.with_suffix(".train.json").read_text())
    assert info["distilled_from"]["teachers"] == [str(teacher_path)] and info["distilled_from"]["soft_weight"] == 1
    assert info["stages"][0]["orand_copies"] == T.DISTILLED[0].orand_copies  # the distillation recipe's mix
    assert {"accuracy", "val_accuracy"} <= info["history"].keys()  # what the curves plot
    student = keras.models.load_model(out, compile=False)
    samples = np.stack([normalize_crop(im, False) for im in mnist[2][:200]])[..., None].astype(np.float32)
    assert (student.predict(samples, verbose=0).argmax(axis=1) == 7).mean() > 0.9  # labels had no weight


def test_a_missing_or_broken_teacher_is_one_clear_line(tmp_path, capsys):
    import keras

    import convert.train as T

    assert T.main(["--epochs", "1", "--teachers", str(tmp_path / "absent.keras")]) == 2
    err = capsys.readouterr().err
    assert "absent.keras not found" in err and len(err.strip().splitlines()) == 1
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a model")
    assert T.main(["--epochs", "1", "--teachers", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "broken.keras is not a readable Keras model" in err and len(err.strip().splitlines()) == 1
    ten_classes = tmp_path / "ten.keras"
    keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]).save(ten_classes)
    assert T.main(["--epochs", "1", "--teachers", str(ten_classes)]) == 2
    err = capsys.readouterr().err
    assert "to 10 classes, not (28, 28, 1) to 11" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit):  # distillation options without teachers are refused, not ignored
        T.main(["--epochs", "1", "--temperature", "3"])


def test_fine_tuning_starts_from_the_saved_weights_and_keeps_their_record(tmp_path):
    import json
    from convert.recognizer import SIZES, build_model
    from convert.train import start_from
    saved = build_model(**SIZES["tiny"])
    saved.save(tmp_path / "lines.keras")
    (tmp_path / "lines.train.json").write_text(json.dumps({"epochs": 5, "seed": 5}))
    fresh = build_model(**SIZES["tiny"])
    assert start_from(fresh, tmp_path / "lines.keras") == {"epochs": 5, "seed": 5}
    assert all(np.array_equal(a, b) for a, b in zip(saved.get_weights(), fresh.get_weights()))


def test_a_widened_recognizer_reads_as_the_narrow_one_it_starts_from():
    from convert.recognizer import SIZES, build_model, widen
    narrow, wide = build_model(**SIZES["tiny"]), build_model(**SIZES["tiny-wide"])
    rng = np.random.default_rng(0)
    for layer in narrow.layers:  # trained-looking weights: no zero biases, no unit statistics
        layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) if i != 3 else
                           rng.uniform(0.5, 2, w.shape).astype(np.float32)
                           for i, w in enumerate(layer.get_weights())])
    lines = rng.integers(0, 256, (4, 32, 64, 1)).astype(np.float32)
    before = wide(lines, training=False).numpy()
    widen(wide, narrow)
    after = wide(lines, training=False).numpy()
    np.testing.assert_allclose(after, narrow(lines, training=False).numpy(), atol=1e-5)
    assert np.abs(after - before).max() > 1e-3  # the weights did change
    assert sum(w.size for w in wide.get_weights()) > sum(w.size for w in narrow.get_weights())
    with pytest.raises(ValueError, match="wider"):
        widen(narrow, wide)


def test_a_recognizer_init_that_does_not_fit_is_one_line_and_exit_2(tmp_path, capsys):
    import keras
    from convert.recognizer import SIZES, build_model, main
    wide = tmp_path / "wide.keras"
    build_model(**SIZES["tiny-wide"]).save(wide)
    other = tmp_path / "other.keras"
    keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]).save(other)
    for init, reason in [(wide, "is wider than"), (other, "is not a readable recognizer"),
                         (tmp_path / "missing.keras", "is not a readable recognizer")]:
        assert main(["--size", "tiny", "--init", str(init), "--out", str(tmp_path / "out.keras")]) == 2
        err = capsys.readouterr().err
        assert reason in err and len(err.strip().splitlines()) == 1, err
    for teacher in (other, tmp_path / "missing.keras"):  # a teacher to distil from is checked as well
        assert main(["--size", "tiny", "--teacher", str(teacher), "--out", str(tmp_path / "out.keras")]) == 2
        err = capsys.readouterr().err
        assert "--teacher" in err and "is not a readable recognizer" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out.keras").exists()


def test_a_one_thread_fine_tune_runs_and_records_its_plate_cut(tmp_path, data_root):
    import json
    from convert.recognizer import SIZES, build_model, save_lines
    from edge.lines import normalize_line
    for name in ("orand-car-a-train", "plates-train", "meters-train"):  # the tuning split is scored each epoch
        need(data_root / name, name)
    build_model(**SIZES["tiny"]).save(tmp_path / "init.keras")
    rng = np.random.default_rng(0)
    lines = [normalize_line(rng.integers(0, 256, (32, 96), dtype=np.uint8)) for _ in range(8)]
    save_lines(tmp_path / "lines.npz", lines, ["12"] * 8, ["printed"] * 8)
    out = tmp_path / "out.keras"
    done = subprocess.run([sys.executable, "-m", "convert.train", "--model", "recognizer", "--size", "tiny",
                           "--init", str(tmp_path / "init.keras"), "--threads", "1", "--epochs", "1",
                           "--cache", str(tmp_path / "lines.npz"), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    info = json.loads(out.with_suffix(".train.json").read_text())
    assert info["init"] == "init.keras" and info["plate_cut"] == "as cached in lines.npz"
    assert sorted(p.name for p in tmp_path.glob("*.keras")) == ["init.keras", "out.keras"]  # its checkpoint gone


def test_plate_copies_are_cut_around_the_detected_line_most_of_the_time(data_root):
    from convert.line_data import WHOLE_PLATE_SHARE, plate_lines, training_lines
    from edge.detect import TextDetector
    for name in ("orand-car-a-train", "plates-train", "meters-train"):  # all three are read, even at no copies
        need(data_root / name, name)
    detector = TextDetector()
    kw = dict(orand_copies=0, plate_copies=4, meter_copies=0, meter_strips=0, split="tune")
    loose, _, _ = training_lines(np.random.default_rng(0), **kw)
    cut, texts, kinds = training_lines(np.random.default_rng(0), detector=detector, **kw)
    assert set(kinds) == {"plate"} and len(cut) == len(loose) == 4 * len(plate_lines("tune"))
    wide = [line.shape[1] for line in cut]
    # around the line, a plate's characters fill the height: the line comes out longer than the whole crop
    assert np.median(wide) > 1.15 * np.median([line.shape[1] for line in loose])
    whole_crop = np.mean([w < 80 for w in wide])  # whole plate crops are about 2:1, cut lines about 3.5:1
    assert 0.5 * WHOLE_PLATE_SHARE < whole_crop < 2 * WHOLE_PLATE_SHARE


def test_model_all_trains_each_model_in_its_own_process_detector_first(monkeypatch, capsys):
    import subprocess as sp
    import types

    import convert.train as T
    calls, fail = [], set()

    def run(cmd, cwd=None):
        calls.append(cmd[1:])
        return types.SimpleNamespace(returncode=2 if cmd[-1] in fail else 0)
    monkeypatch.setattr(sp, "run", run)
    assert T.main(["--model", "all"]) == 0
    assert calls == [["-m", "convert.train", "--model", m] for m in ("detector", "recognizer", "digits")]
    calls.clear()
    fail.add("recognizer")
    assert T.main(["--model=all"]) == 2 and len(calls) == 2  # a failed recognizer stops the run
    assert T.train_all(["--epochs", "1"]) == 2
    assert "takes no other options" in capsys.readouterr().err


def test_model_after_other_options_is_refused_not_ignored(capsys):
    import convert.train as T
    with pytest.raises(SystemExit) as exit:
        T.main(["--epochs", "1", "--model", "recognizer"])
    assert exit.value.code == 2 and "--model recognizer comes first" in capsys.readouterr().err


def _handwritten_line(touching: bool):
    """A made-up cheque amount '1200': four dark bars on light paper; the 2 and first 0 joined
    across half the line's height when `touching`."""
    from convert.line_data import RealLine
    gray = np.full((40, 200), 220, np.uint8)
    boxes = [(20, 8, 20, 24, 1), (50, 8, 20, 24, 2), (80, 8, 20, 24, 0), (110, 8, 20, 24, 0)]
    for x, y, w, h, _ in boxes:
        gray[y:y + h, x + 5:x + w - 5] = 30
    if touching:
        gray[14:26, 60:90] = 30
    return RealLine(gray, "1200", "orand", "made-up.png", (20, 8, 110, 24), boxes=boxes)


def test_a_handwritten_line_is_cut_between_digits_and_touching_ones_stay_together():
    from convert.line_data import digit_pieces
    cuts, texts = digit_pieces(_handwritten_line(touching=False))
    assert texts == ["1", "2", "0", "0"]
    assert [40 <= cuts[1] <= 55, 70 <= cuts[2] <= 85, 100 <= cuts[3] <= 115] == [True] * 3
    cuts, texts = digit_pieces(_handwritten_line(touching=True))
    assert texts == ["1", "20", "0"] and len(cuts) == 4


def test_spliced_amounts_are_the_lines_own_pieces_with_their_digits_as_text():
    from convert.line_data import digit_pieces, spliced_line
    line = _handwritten_line(touching=True)
    cuts, texts = digit_pieces(line)
    widths = {t: cuts[k + 1] - cuts[k] for k, t in enumerate(texts)}
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(50):
        gray, text, (x, y, w, h) = spliced_line(line, rng)
        assert set(text) <= {"1", "2", "0"} and 1 <= len(text) <= 9 + 1
        assert gray.shape[0] == 40 and gray.shape[1] == 20 + w + (200 - 130)  # the line's own margins
        assert (x, y, h) == (20, 8, 24) and w >= min(widths.values())
        assert "2" not in text.replace("20", "")  # the touching 2 never leaves its 0
        seen.add(text)
    assert len(seen) > 10
    line.text = "1201"  # boxes that do not spell the text: not spliced
    assert spliced_line(line, rng) is None


def test_restroked_handwriting_moves_its_strokes_but_keeps_them_in_place():
    from convert.line_data import restroke
    gray = _handwritten_line(touching=False).gray
    ink = gray < 128
    outs = [restroke(gray, np.random.default_rng(seed)) for seed in range(20)]
    for out in outs:
        assert out.shape == gray.shape and out.dtype == np.uint8
        moved = out < 128
        assert 0.5 < moved.sum() / ink.sum() < 2.0  # thinner or thicker, not gone or smeared
        assert (moved & ink).sum() > 0.5 * min(moved.sum(), ink.sum())  # bent a few pixels, not shifted off
        assert not moved[:, :15].any() and not moved[:, 135:].any()  # nothing drawn where no digit was
    assert sum(not np.array_equal(a, b) for a, b in zip(outs, outs[1:])) == len(outs) - 1  # each draw differs
    np.testing.assert_array_equal(restroke(gray, np.random.default_rng(3)), outs[3])  # fixed by the seed


def test_a_soup_is_the_mean_of_its_models_weights_and_records_them(tmp_path, capsys):
    import json
    from convert.recognizer import SIZES, build_model
    from convert.soup import main
    paths = []
    for seed in (1, 2, 3):
        tf.keras.utils.set_random_seed(seed)
        model = build_model(**SIZES["tiny"])
        model.layers[3].set_weights([w + seed for w in model.layers[3].get_weights()])  # batch-norm statistics too
        paths.append(tmp_path / f"m{seed}.keras")
        model.save(paths[-1])
        paths[-1].with_suffix(".train.json").write_text(json.dumps({"seed": seed}))
    np.savez_compressed(paths[-1].with_suffix(".representative.npz"), np.zeros((32, 64), np.uint8))
    np.save(paths[-1].with_suffix(".representative.npy"), np.zeros((2, 240, 320), np.uint8))  # a detector's
    out = tmp_path / "soup" / "lines.keras"
    assert main([str(p) for p in paths] + ["--out", str(out)]) == 0
    import keras
    soup = keras.models.load_model(out, compile=False)
    parts = [keras.models.load_model(p, compile=False) for p in paths]
    for i, layer in enumerate(soup.layers):
        for k, w in enumerate(layer.get_weights()):
            assert np.allclose(w, np.mean([m.layers[i].get_weights()[k] for m in parts], axis=0), atol=1e-6)
    assert json.loads(out.with_suffix(".train.json").read_text()) == {"soup_of": [{"seed": 1}, {"seed": 2}, {"seed": 3}]}
    assert out.with_suffix(".representative.npz").is_file() and out.with_suffix(".representative.npy").is_file()
    build_model(**SIZES["tiny-wide"]).save(tmp_path / "wide.keras")
    for models, reason in [([paths[0], tmp_path / "wide.keras"], "differs in shape"),
                           ([paths[0], tmp_path / "missing.keras"], "is not a readable Keras model")]:
        assert main([str(p) for p in models] + ["--out", str(tmp_path / "bad.keras")]) == 2
        err = capsys.readouterr().err
        assert reason in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "bad.keras").exists()


def test_both_exports_calibrate_on_data_built_again_when_the_saved_samples_are_gone(tmp_path, monkeypatch,
                                                                                    data_root, capsys):
    """A fresh clone has the Keras models but not the samples their training saved beside them."""
    need(data_root / "sudoku-train", "sudoku-train")
    import convert.detector as D
    import convert.export_lines as E
    from convert.recognizer import SIZES, build_model
    from edge.detect import TextDetector
    from edge.infer.recognizer import LineRecognizer
    build_model(**SIZES["tiny"]).save(tmp_path / "lines.keras")
    lines = E.representative_lines(tmp_path / "lines.keras", n=20)
    assert len(lines) == 20 and all(line.shape[0] == 32 and line.dtype == np.uint8 for line in lines)
    monkeypatch.setattr(E, "representative_lines", lambda path, n=20: lines)
    E.export(tmp_path / "lines.keras", tmp_path / "lines.tflite")
    assert LineRecognizer(tmp_path / "lines.tflite").read([np.full((32, 90), 200, np.uint8)])  # the app loads it
    monkeypatch.setattr(D, "REPRESENTATIVE_SCENES", 6)
    D.build_model().save(tmp_path / "detector.keras")
    D.export(tmp_path / "detector.keras", tmp_path / "detector.tflite")
    assert "not found: calibrating on 6 training scenes built again" in capsys.readouterr().out
    assert isinstance(TextDetector(tmp_path / "detector.tflite").detect(np.full((240, 320), 200, np.uint8)), list)


def test_recognizer_training_pads_lines_to_the_widths_asked(capsys):
    """--pad-widths: each batch is padded to the next of the widths given, and a line whose
    text needs more time steps than its padded width has is left out; bad widths: exit 2."""
    from convert.recognizer import batches, fits, main
    lines = [np.zeros((32, w), np.uint8) for w in (30, 36, 44, 60)]
    texts = ["1", "12", "123", "1234"]
    widths = (32, 40, 48, 64, 128, 256)
    padded = sorted(images.shape[2] for images, _, _ in batches(lines, texts, 1, np.random.default_rng(0), widths))
    assert padded == [32, 40, 48, 64]
    default = sorted(images.shape[2] for images, _, _ in batches(lines, texts, 1, np.random.default_rng(0)))
    assert default == [32, 48, 48, 64]
    assert fits("12121212121", 36) and not fits("12121212121", 36, widths)  # 11 steps: 12 at 48 px, 10 at 40
    for bad in ("32,48", "48,32,256", "30,256", "a,256", "0,256"):
        with pytest.raises(SystemExit) as exit_info:
            main(["--pad-widths", bad])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and "--pad-widths" in err, err


def test_orand_copies_can_be_cut_as_the_app_cuts_them(data_root, capsys):
    from convert.line_data import app_cut, orand_lines, training_lines
    from convert.recognizer import main
    from edge.detect import TextDetector
    for name in ("orand-car-a-train", "plates-train", "meters-train"):  # all three are read, even at no copies
        need(data_root / name, name)
    detector = TextDetector()
    lines = orand_lines("tune")
    cuts = [app_cut(line, detector) for line in lines]
    found = [(line, cut) for line, cut in zip(lines, cuts) if cut is not None]
    assert len(found) >= 0.9 * len(lines)
    # the detector's line over the amount, with the app's margin: about as tall as the digits' extent
    ratios = [cut.shape[0] / line.extent[3] for line, cut in found]
    assert 0.9 < np.median(ratios) < 1.6, np.median(ratios)
    kw = dict(orand_copies=3, plate_copies=0, meter_copies=0, meter_strips=0, split="tune")
    _, texts, kinds = training_lines(np.random.default_rng(0), detector=detector, orand_cut=1.0, **kw)
    assert len(kinds) == 3 * len(lines) and kinds.count("orand_cut") == 3 * len(found)
    assert texts[:3] == [lines[0].text] * 3
    with pytest.raises(ValueError, match="detector"):
        training_lines(np.random.default_rng(0), orand_cut=0.5, **kw)
    for bad in (["--orand-cut", "1.5"], ["--orand-cut", "0.5", "--plate-cut", "whole"]):
        with pytest.raises(SystemExit) as exit_info:
            main(bad)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and "--orand-cut" in err, err


def test_an_orand_cut_that_leaves_out_a_labelled_digit_is_not_used():
    from convert.line_data import RealLine, app_cut
    from edge.detect import Line
    boxes = [(10, 10, 8, 40, 1), (30, 10, 25, 40, 5), (60, 10, 25, 40, 7)]  # a thin 1, then 5 and 7
    line = RealLine(np.full((60, 200), 255, np.uint8), "157", "orand", "k", (10, 10, 75, 40), boxes=boxes)

    class Detector:  # finds one line from x0 to 85
        def __init__(self, x0):
            self.x0 = x0

        def detect(self, gray):
            x0 = self.x0
            return [Line(np.array([[x0, 10], [85, 10], [85, 50], [x0, 50]], np.float32), 0.9)] if x0 else []
    assert app_cut(line, Detector(10)).shape == (52, 87)  # the whole amount and the app's margin
    assert app_cut(line, Detector(24)) is None  # 81% of the amount's width, but its cut leaves out the 1
    assert app_cut(line, Detector(30)) is None  # under APP_CUT_COVER of it
    assert app_cut(line, Detector(0)) is None  # no line found


@pytest.mark.parametrize("args, words", [
    (["convert.smallest_text", "--threshold", "5"], "between 0 and 1"),
    (["convert.smallest_text", "--json", "/nonexistent/x.json"], "not found"),
    (["convert.devsets", "--out", "/nonexistent/x.json"], "not found"),
    (["convert.devsets", "--limit", "0"], "--limit must be >= 1"),
    (["convert.evaluate", "--limit", "0"], "--limit must be >= 1"),
    (["convert.evaluate", "--model", "recognizer", "--tflite", "/nonexistent/l.tflite"], "--tflite /nonexistent"),
    (["convert.evaluate", "--keras", "/nonexistent/d.keras", "--limit", "5"], "--keras /nonexistent/d.keras not found"),
    (["convert.evaluate", "--model=recognizer", "--keras", "/nonexistent/l.keras"], "--keras /nonexistent"),
])
def test_evaluation_options_that_would_fail_late_are_refused_at_once(args, words):
    r = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]


def test_a_data_folder_asked_for_that_is_missing_is_an_error_not_a_fallback(monkeypatch, tmp_path):
    from convert.datasets import DataError, find_dataset
    monkeypatch.setenv("EDGE_DIGITS_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="nowhere"):
        find_dataset("sudoku-train")


def test_a_limited_evaluation_prints_and_writes_no_report(tmp_path, mnist):
    """convert.report reads <model>.eval.json: a quick check on a part of the sets must not replace it."""
    import shutil
    from convert.evaluate import main
    for suffix in (".tflite", ".json"):
        shutil.copy(ROOT / "models" / f"digits{suffix}", tmp_path / f"digits{suffix}")
    before = (tmp_path / "digits.json").read_text()
    assert main(["--model", str(tmp_path / "digits.tflite"), "--limit", "20"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.json", "digits.tflite"]
    assert (tmp_path / "digits.json").read_text() == before


@pytest.mark.parametrize("module,argv", [
    ("convert.smallest_text", ["--heights", "2000", "--tries", "1"]),  # taller than its frame
    ("convert.train", ["--model", "recognizer", "--threads", "-1"]),  # TensorFlow aborted the process on it
    ("convert.train", ["--model", "detector", "--threads", "-1"]),
])
def test_options_out_of_range_are_one_line_and_status_2(module, argv, capsys):
    import importlib
    with pytest.raises(SystemExit) as e:
        importlib.import_module(module).main(argv)
    assert e.value.code == 2 and "error:" in capsys.readouterr().err


def test_fewer_detector_scenes_than_chunks_are_built(data_root):
    from convert.detector import build_scenes
    x, cores, weights = build_scenes(3, log=lambda *a: None)
    assert len(x) == len(cores) == len(weights) == 3


def test_ctrl_c_in_a_training_is_one_line_and_status_130(monkeypatch, capsys):
    import convert.recognizer
    import convert.train

    def interrupted(argv):
        raise KeyboardInterrupt
    monkeypatch.setattr(convert.recognizer, "main", interrupted)
    assert convert.train.main(["--model", "recognizer"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err


def test_a_trainings_checkpoint_goes_beside_out_not_over_it():
    from pathlib import Path
    from convert.train import partial_path
    assert partial_path(Path("models/lines.keras")) == Path("models/lines.partial.keras")


def test_the_output_check_leaves_a_dangling_link_and_its_target_alone(tmp_path):
    """The write test opened `--out` itself: through a link to a file not made yet it made the
    target (empty) and removed the link."""
    from convert.outputs import out_problem
    (tmp_path / "real").mkdir()
    link = tmp_path / "link.keras"
    link.symlink_to(tmp_path / "real" / "target.keras")
    assert out_problem(link) is None
    assert link.is_symlink() and not (tmp_path / "real" / "target.keras").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.keras", "real"]
