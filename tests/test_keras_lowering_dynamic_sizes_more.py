"""More layers over inputs of unknown sizes (``keras.Input((None, None, 3))``): transposed convs, GroupNormalization,
a weightless LayerNormalization, 3-D pools, Cropping3D, causal 1-D convs, Resizing and Keras 3's adaptive pools
read the sizes they need at run time. One converted model, fed inputs of two different sizes, matches Keras on
both (Keras 3 ``.keras`` and tf_keras ``.h5``; the same models pass on webgl too, checked by hand in Chromium)."""
from __future__ import annotations

import pytest

pytest.importorskip("h5py")
keras = pytest.importorskip("keras")

from keras_two_sizes import converted_fixture, each_case, normal_inputs_at, two_size_saver, verify_runs  # noqa: E402


def transposed(k):
    """Conv1D/2D/3DTranspose over unknown sizes: same and valid padding, strides, output_padding, dilation."""
    L = k.layers
    seq = k.Input((None, 3), name="sequence")
    image = k.Input((None, None, 3), name="image")
    volume = k.Input((None, 3, None, 2), name="volume")  # a known size between unknown ones
    a = L.Conv1DTranspose(2, 3, strides=2, name="t1d")(seq)
    b = L.Conv2DTranspose(3, 3, strides=2, padding="same", name="t2d_same")(image)
    c = L.Conv2DTranspose(2, (3, 2), strides=(2, 3), output_padding=(1, 2), activation="tanh", name="t2d_pad")(image)
    d = L.Conv2DTranspose(2, 3, dilation_rate=2, padding="same", use_bias=False, name="t2d_dilated")(image)
    e = L.Conv3DTranspose(2, (5, 3, 2), strides=(2, 1, 2), padding="same", name="t3d_same")(volume)
    f = L.Conv3DTranspose(2, 2, strides=(1, 3, 2), output_padding=(0, 0, 1), name="t3d_pad")(volume)
    return k.Model([seq, image, volume], [a, b, c, d, e, f])


def grouped(k):
    """GroupNormalization, Cropping3D, a LayerNormalization without weights and 3-D pools over unknown sizes."""
    L = k.layers
    seq = k.Input((None, 6), name="sequence")
    image = k.Input((None, None, 4), name="image")
    volume = k.Input((None, None, None, 2), name="volume")
    a = L.GroupNormalization(3, name="group_seq")(seq)
    b = L.GroupNormalization(2, epsilon=1e-2, name="group_image")(image)
    c = L.GroupNormalization(1, center=False, name="group_volume")(volume)
    d = L.Cropping3D(((1, 0), (0, 2), (1, 1)), name="crop3d")(volume)
    e = L.LayerNormalization(axis=1, center=False, scale=False, name="layer_norm_steps")(seq)  # no weights to shape
    f = L.MaxPooling3D(2, padding="same", name="max3d")(volume)  # two 2-D pools: wasm's MaxPool3D is wrong
    g = L.AveragePooling3D((2, 1, 3), strides=(1, 2, 2), padding="same", name="average3d")(volume)
    return k.Model([seq, image, volume], [a, b, c, d, e, f, g])


def causal(k):
    """Causal 1-D convs with strides and dilation over an unknown length (tf_keras's SeparableConv1D too, over a
    static length as well)."""
    L = k.layers
    seq = k.Input((None, 3), name="sequence")
    fixed = k.Input((6, 3), name="fixed")
    outputs = [L.Conv1D(4, 3, strides=2, padding="causal", name="causal_strided")(seq),
               L.Conv1D(2, 2, dilation_rate=3, padding="causal", name="causal_dilated")(seq),
               L.DepthwiseConv1D(3, strides=2, padding="same", name="depthwise_strided")(seq),
               L.Conv1D(2, 3, strides=2, padding="causal", name="causal_static")(fixed)]
    if k.__name__ == "tf_keras":  # Keras 3's separable conv has no causal padding
        outputs += [L.SeparableConv1D(4, 3, dilation_rate=2, padding="causal", name="separable_causal")(seq),
                    L.SeparableConv1D(2, 4, strides=2, depth_multiplier=2, padding="causal",
                                      name="separable_causal_static")(fixed)]
    return k.Model([seq, fixed], outputs)


def resized(k):
    """Resizing to a fixed size from an unknown one."""
    L = k.layers
    image = k.Input((None, None, 3), name="image")
    return k.Model(image, [L.Resizing(5, 6, name="bilinear")(image),
                           L.Resizing(4, 3, interpolation="nearest", name="nearest")(image)])


def adaptive(k):
    """Keras 3's adaptive pools over unknown sizes (Keras computes each concrete size; bins longer and shorter than
    one step, uneven windows)."""
    L = k.layers
    seq = k.Input((None, 3), name="sequence")
    image = k.Input((None, None, 2), name="image")
    volume = k.Input((None, None, 4, 2), name="volume")
    return k.Model([seq, image, volume], [L.AdaptiveMaxPooling1D(4, name="max1d")(seq),
                                          L.AdaptiveAveragePooling2D((3, 2), name="average2d")(image),
                                          L.AdaptiveMaxPooling2D((2, 4), name="max2d")(image),
                                          L.AdaptiveAveragePooling3D((2, 3, 3), name="average3d")(volume)])


FAMILIES = {"transposed": transposed, "grouped": grouped, "causal": causal, "resized": resized, "adaptive": adaptive}
#: Two input sizes (batch included) per input, fed to the same converted model.
SIZES = {"transposed": [[(2, 5, 3), (2, 4, 5, 3), (2, 2, 3, 4, 2)], [(1, 7, 3), (1, 3, 2, 3), (1, 3, 3, 1, 2)]],
         "grouped": [[(2, 5, 6), (2, 4, 5, 4), (2, 3, 4, 5, 2)], [(1, 2, 6), (1, 6, 3, 4), (1, 2, 3, 3, 2)]],
         "causal": [[(2, 7, 3), (2, 6, 3)], [(1, 4, 3), (1, 6, 3)]],
         "resized": [[(2, 7, 9, 3)], [(1, 3, 4, 3)]],
         "adaptive": [[(2, 7, 3), (2, 5, 4, 2), (2, 3, 5, 4, 2)], [(1, 3, 3), (1, 6, 7, 2), (1, 4, 2, 4, 2)]]}
CASES = [(family, flavor) for family in FAMILIES for flavor in ("keras3.keras", "tf_keras.h5")
         if family != "adaptive" or flavor.startswith("keras3")]  # tf_keras has no adaptive pools


converted = converted_fixture("dynamic_sizes_more", CASES, two_size_saver(FAMILIES, normal_inputs_at(SIZES), seed=21))


@pytest.mark.node
@each_case(CASES)
def test_more_layers_over_unknown_sizes_match_keras_at_two_sizes(converted, tfjs_runtime, family, flavor):
    path, runs, _ = converted[(family, flavor)]
    verify_runs(path, runs)


def test_adaptive_pooling_asking_for_millions_of_bins_is_refused_before_building(tmp_path):
    """Each run-time bin is a few nodes: an edited ``output_size`` of 10^7 is an InputError at once, not a hang."""
    import tfjsconv
    from test_keras_lowering import _edit_config
    from tfjsconv.errors import InputError

    seq = keras.Input((None, 3), name="sequence")
    keras.Model(seq, keras.layers.AdaptiveMaxPooling1D(4, name="pool")(seq)).save(tmp_path / "m.h5")
    _edit_config(tmp_path / "m.h5", lambda layers: layers["pool"].update(output_size=[10 ** 7]))
    with pytest.raises(InputError, match=r"'pool' \(AdaptiveMaxPooling1D\) has output_size \[10000000\]: more bins"):
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")


@pytest.mark.parametrize("cropping,needle", [
    ([[1, -1], [0, 0], [0, 0]], r"has cropping \[\(1, -1\), \(0, 0\), \(0, 0\)\], expected sizes from 0"),
    ([[10 ** 12, 0], [0, 0], [0, 0]], r"has cropping \[\(1000000000000, 0\), \(0, 0\), \(0, 0\)\], expected"),
])
def test_cropping_edited_negative_or_huge_is_an_input_error(tmp_path, cropping, needle):
    """Keras refuses negative crops (a slice ending at ``-b`` would then cut from the start) and no size reaches
    2^31: an edited Cropping3D over unknown sizes is an InputError, not a model or a traceback."""
    import tfjsconv
    from test_keras_lowering import _edit_config
    from tfjsconv.errors import InputError

    volume = keras.Input((None, None, None, 2), name="volume")
    keras.Model(volume, keras.layers.Cropping3D(1, name="crop")(volume)).save(tmp_path / "m.h5")
    _edit_config(tmp_path / "m.h5", lambda layers: layers["crop"].update(cropping=cropping))
    with pytest.raises(InputError, match=r"'crop' \(Cropping3D\) " + needle):
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")


@pytest.mark.parametrize("layer", ["DepthwiseConv2D", "SeparableConv2D"])
def test_depthwise_strides_with_dilation_stay_refused_by_name(tmp_path, layer):
    """Keras 3 runs a depthwise conv with strides and dilation (at stride 1, then subsampled); TF.js's depthwise
    conv throws on both, so the layer is a gap, not a model that fails when run."""
    import tfjsconv
    from tfjsconv.errors import UsageError

    L = keras.layers
    image = keras.Input((None, None, 3), name="image")
    conv = L.DepthwiseConv2D(3, strides=2, dilation_rate=2, padding="same", name="conv") if layer == "DepthwiseConv2D" \
        else L.SeparableConv2D(2, 3, strides=2, dilation_rate=2, name="conv")
    keras.Model(image, conv(image)).save(tmp_path / "m.keras")
    with pytest.raises(UsageError, match=rf"'conv' \({layer}\): strides together with dilation") as err:
        tfjsconv.convert(tmp_path / "m.keras", tmp_path / "out", output_format="tfjs_graph_model")
    assert "--loader=tensorflow" in str(err.value.hint)


def test_keras3_separable_conv1d_edited_to_causal_is_an_input_error(tmp_path):
    """Only tf_keras's SeparableConv1D has causal padding (Keras 3 refuses to build one): a Keras 3 file edited to
    it is an InputError rather than tf_keras's computation."""
    import tfjsconv
    from test_keras_lowering import _edit_config
    from tfjsconv.errors import InputError

    seq = keras.Input((None, 3), name="sequence")
    keras.Model(seq, keras.layers.SeparableConv1D(2, 3, name="sep")(seq)).save(tmp_path / "m.h5")
    _edit_config(tmp_path / "m.h5", lambda layers: layers["sep"].update(padding="causal"))
    with pytest.raises(InputError, match=r"'sep' \(SeparableConv1D\) has causal padding, which Keras 3's"):
        tfjsconv.convert(tmp_path / "m.h5", tmp_path / "out", output_format="tfjs_graph_model")
