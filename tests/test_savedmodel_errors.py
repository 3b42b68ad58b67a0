"""Bad TensorFlow inputs: one clear message, exit code 2, and no output folder."""
from __future__ import annotations

import shutil

import pytest

pytest.importorskip("tensorflow")

import tf_models  # noqa: E402

from tfjsconv.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    return tf_models.hub_v2(tmp_path_factory.mktemp("sm") / "model")  # one tiny model with variables


def copy(src, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    return dst


def run(args, tmp_path, capsys):
    out = tmp_path / "out" / "web"
    code = main(["convert", *map(str, args[:1]), str(out), *args[1:]])
    err = capsys.readouterr().err
    assert code == 2, err
    assert not out.exists() and not out.parent.exists()
    assert "Traceback" not in err
    return err


def test_folder_that_is_not_a_saved_model(tmp_path, capsys):
    folder = tmp_path / "stuff"
    folder.mkdir()
    (folder / "notes.txt").write_text("hi")
    err = run([folder, "--input_format=tf_saved_model"], tmp_path, capsys)
    assert "is not a SavedModel" in err and "notes.txt" in err


def test_missing_signature_lists_the_existing_ones(saved_model, tmp_path, capsys):
    err = run([saved_model, "--signature_name=predict"], tmp_path, capsys)
    assert "no signature 'predict'" in err and "default" in err


def test_missing_tag_lists_the_existing_tag_sets(saved_model, tmp_path, capsys):
    err = run([saved_model, "--saved_model_tags=serve,gpu"], tmp_path, capsys)
    assert "no MetaGraph tagged" in err and "tag-sets in this SavedModel: serve" in err


def test_truncated_saved_model_pb(saved_model, tmp_path, capsys):
    broken = copy(saved_model, tmp_path)
    pb = broken / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[: pb.stat().st_size // 3])
    err = run([broken], tmp_path, capsys)
    assert "saved_model.pb is not a readable SavedModel" in err


def test_missing_variables(saved_model, tmp_path, capsys):
    broken = copy(saved_model, tmp_path)
    (broken / "variables" / "variables.index").unlink()
    err = run([broken, "--signature_name=default"], tmp_path, capsys)
    assert "missing its variables" in err


@pytest.mark.parametrize("flags", [["--input_format=tf_hub"], []], ids=["tf_hub", "detected"])
@pytest.mark.parametrize("url", ["https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5",
                                 "tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5",
                                 "https://www.kaggle.com/models/google/mobilenet-v2/frameworks/tensorFlow2"])
def test_hub_urls_ask_for_a_download(url, flags, tmp_path, capsys):
    err = run([url, *flags], tmp_path, capsys)
    assert "download the module first" in err and "does not exist" not in err


def test_a_missing_local_path_still_does_not_exist(tmp_path, capsys):
    err = run([tmp_path / "no_such_model"], tmp_path, capsys)
    assert "does not exist" in err


def test_frozen_model_needs_output_node_names(tmp_path, capsys):
    pb = tf_models.frozen_graph(tmp_path / "frozen.pb")
    err = run([pb], tmp_path, capsys)
    assert "--output_node_names" in err
    err = run([pb, "--output_node_names=nope"], tmp_path, capsys)
    assert "nope" in err


def test_unsupported_ops_are_all_named(tmp_path, capsys):
    import tensorflow as tf

    class Odd(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def __call__(self, x):
            return {"y": tf.math.bessel_i1e(x) + tf.math.bessel_i0e(x)}

    module = Odd()
    tf.saved_model.save(module, str(tmp_path / "odd"), signatures={"serving_default": module.__call__})
    err = run([tmp_path / "odd"], tmp_path, capsys)
    assert "BesselI1e" in err and "BesselI0e" in err
