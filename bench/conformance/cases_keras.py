"""Keras layer conformance cases: one small seeded model per built-in layer and main option.

A :class:`KerasCase` builds its model from a Keras module (Keras 3 or tf_keras); the builder returns
``None`` when that Keras has no such layer or option. Weights are random (``keras_models.randomize``,
fixed seed, BatchNorm statistics included); inputs are seeded normals (ints for id inputs). Layers not
covered are listed in :data:`NOT_COVERED` with the reason (training-only, random at inference, or no
TF.js-loadable form), so the table shows every built-in layer.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

#: Keras 3 saved as ``.keras``, Keras 3 saved as legacy ``.h5``, tf_keras saved as ``.h5``.
FLAVORS = ("keras3", "keras3_h5", "tf_keras")


@dataclasses.dataclass
class KerasCase:
    layer: str
    option: str
    build: Callable[[Any], Any]
    #: Id inputs: integers in [0, int_high).
    int_high: int = 10
    #: Zero the last ``zero_tail`` time steps of float inputs (so Masking has something to mask).
    zero_tail: int = 0
    abs_tol: float | None = None

    @property
    def key(self) -> str:
        return f"{self.layer}/{self.option}"


def _k3(k: Any) -> bool:
    return k.__name__ == "keras"


def seq(k: Any, shape: tuple, *layers: Any, dtype: str = "float32") -> Any:
    """Input (named ``in0``) through ``layers`` in turn, as a functional model."""
    inp = k.Input(shape, name="in0", dtype=dtype)
    x = inp
    for layer in layers:
        x = layer(x)
    return k.Model(inp, x)


def multi(k: Any, shapes: list[tuple], make: Callable[[list], Any]) -> Any:
    """A model over several inputs ``in0``, ``in1``, … whose output(s) ``make(inputs)`` builds."""
    inputs = [k.Input(s, name=f"in{i}") for i, s in enumerate(shapes)]
    out = make(inputs)
    return k.Model(inputs, out)


def _only3(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda k: fn(k) if _k3(k) else None


def _only_tk(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda k: None if _k3(k) else fn(k)


def _leaky(k: Any, slope: float) -> Any:
    return k.layers.LeakyReLU(negative_slope=slope) if _k3(k) else k.layers.LeakyReLU(alpha=slope)


def _state(k: Any, layer_of: Callable[[Any], Any], shape: tuple = (5, 3)) -> Any:
    """An RNN with return_state: every output (sequence/last and states) is a model output."""
    inp = k.Input(shape, name="in0")
    return k.Model(inp, list(layer_of(k.layers)(inp)))


def _normalization(k: Any) -> Any:
    import numpy as np

    layer = k.layers.Normalization(mean=np.float32([0.5, -1.0, 2.0]), variance=np.float32([4.0, 0.25, 1.0]))
    return seq(k, (4, 3), layer)


def _cases() -> list[KerasCase]:
    C = KerasCase
    L = lambda k: k.layers  # noqa: E731
    out: list[KerasCase] = []

    def add(layer: str, option: str, build: Callable[[Any], Any], **kw: Any) -> None:
        out.append(C(layer, option, build, **kw))

    # -- core ---------------------------------------------------------------------------------------
    add("Dense", "relu", lambda k: seq(k, (6,), L(k).Dense(5, activation="relu")))
    add("Dense", "no_bias", lambda k: seq(k, (6,), L(k).Dense(5, use_bias=False)))
    add("Dense", "rank3", lambda k: seq(k, (4, 6), L(k).Dense(3)))
    add("EinsumDense", "abc,cd->abd", lambda k: seq(k, (4, 6), L(k).EinsumDense("abc,cd->abd", (4, 3), bias_axes="d")))
    add("Embedding", "default", lambda k: seq(k, (4,), L(k).Embedding(10, 3), dtype="int32"))
    add("Embedding", "mask_zero+LSTM", lambda k: seq(k, (5,), L(k).Embedding(10, 3, mask_zero=True), L(k).LSTM(3),
                                                     dtype="int32"), int_high=3)
    add("Masking", "LSTM", lambda k: seq(k, (5, 3), L(k).Masking(0.0), L(k).LSTM(3)), zero_tail=2)
    add("Masking", "GRU_seq", lambda k: seq(k, (5, 3), L(k).Masking(0.0), L(k).GRU(3, return_sequences=True)),
        zero_tail=2)
    add("Identity", "default", _only3(lambda k: seq(k, (6,), L(k).Identity(), L(k).Dense(2))))
    add("Lambda", "x*2", lambda k: seq(k, (6,), L(k).Lambda(lambda x: x * 2.0)))
    # -- activations ----------------------------------------------------------------------------------
    for act in ("linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "softsign", "swish",
                "gelu", "hard_sigmoid", "exponential", "relu6", "mish", "log_softmax", "silu",
                "leaky_relu"):
        add("Activation", act, (lambda a: lambda k: seq(k, (6,), L(k).Activation(a)))(act))
    add("Activation", "hard_silu", _only3(lambda k: seq(k, (6,), L(k).Activation("hard_silu"))))
    add("ReLU", "max_value", lambda k: seq(k, (6,), L(k).ReLU(max_value=0.5)))
    add("ReLU", "threshold+slope", lambda k: seq(k, (6,), L(k).ReLU(negative_slope=0.1, threshold=0.2)))
    add("LeakyReLU", "default", lambda k: seq(k, (6,), L(k).LeakyReLU()))
    add("LeakyReLU", "0.1", lambda k: seq(k, (6,), _leaky(k, 0.1)))
    add("PReLU", "shared_axes", lambda k: seq(k, (4, 5, 3), L(k).PReLU(shared_axes=[1, 2])))
    add("ELU", "alpha1", lambda k: seq(k, (6,), L(k).ELU()))
    add("ELU", "alpha0.5", lambda k: seq(k, (6,), L(k).ELU(alpha=0.5)))
    add("Softmax", "last", lambda k: seq(k, (4, 6), L(k).Softmax()))
    add("Softmax", "axis1", lambda k: seq(k, (4, 6), L(k).Softmax(axis=1)))
    add("ThresholdedReLU", "0.5", _only_tk(lambda k: seq(k, (6,), L(k).ThresholdedReLU(0.5))))
    # -- convolution ----------------------------------------------------------------------------------
    add("Conv1D", "valid", lambda k: seq(k, (9, 3), L(k).Conv1D(4, 3)))
    add("Conv1D", "same_s2", lambda k: seq(k, (9, 3), L(k).Conv1D(4, 3, strides=2, padding="same")))
    add("Conv1D", "causal_dil2", lambda k: seq(k, (9, 3), L(k).Conv1D(4, 3, padding="causal", dilation_rate=2)))
    add("Conv1D", "channels_first", lambda k: seq(k, (3, 9), L(k).Conv1D(2, 3, data_format="channels_first")))
    add("Conv1D", "groups", lambda k: seq(k, (9, 4), L(k).Conv1D(4, 3, groups=2)))
    add("Conv2D", "valid_relu", lambda k: seq(k, (8, 8, 3), L(k).Conv2D(4, 3, activation="relu")))
    add("Conv2D", "same_s2_odd", lambda k: seq(k, (9, 9, 3), L(k).Conv2D(4, 3, strides=2, padding="same")))
    add("Conv2D", "same_s2_k4", lambda k: seq(k, (8, 9, 3), L(k).Conv2D(4, 4, strides=2, padding="same")))
    add("Conv2D", "same_dil2", lambda k: seq(k, (9, 9, 3), L(k).Conv2D(4, 3, dilation_rate=2, padding="same")))
    add("Conv2D", "dil_2x1", lambda k: seq(k, (9, 9, 3), L(k).Conv2D(2, 3, dilation_rate=(2, 1))))
    add("Conv2D", "channels_first", lambda k: seq(k, (3, 8, 8), L(k).Conv2D(4, 3, data_format="channels_first")))
    add("Conv2D", "groups", lambda k: seq(k, (8, 8, 4), L(k).Conv2D(4, 3, groups=2)))
    add("Conv2D", "no_bias", lambda k: seq(k, (8, 8, 3), L(k).Conv2D(4, 3, use_bias=False)))
    add("Conv3D", "same_s2", lambda k: seq(k, (5, 5, 5, 2), L(k).Conv3D(3, 3, strides=2, padding="same")))
    add("Conv3D", "valid", lambda k: seq(k, (5, 5, 5, 2), L(k).Conv3D(3, 2)))
    add("Conv1DTranspose", "valid_s2", lambda k: seq(k, (5, 3), L(k).Conv1DTranspose(2, 3, strides=2)))
    add("Conv2DTranspose", "valid", lambda k: seq(k, (4, 5, 3), L(k).Conv2DTranspose(2, 3)))
    add("Conv2DTranspose", "same_s2", lambda k: seq(k, (4, 5, 3), L(k).Conv2DTranspose(2, 3, strides=2, padding="same")))
    add("Conv2DTranspose", "output_padding", lambda k: seq(k, (4, 5, 3), L(k).Conv2DTranspose(2, 3, strides=2,
                                                                                               output_padding=1)))
    add("Conv2DTranspose", "dil2", lambda k: seq(k, (4, 5, 3), L(k).Conv2DTranspose(2, 3, dilation_rate=2)))
    add("Conv2DTranspose", "channels_first", lambda k: seq(k, (3, 4, 5), L(k).Conv2DTranspose(2, 3,
                                                                                               data_format="channels_first")))
    add("Conv3DTranspose", "same_s2", lambda k: seq(k, (3, 3, 3, 2), L(k).Conv3DTranspose(2, 3, strides=2, padding="same")))
    add("DepthwiseConv1D", "same", _only3(lambda k: seq(k, (9, 3), L(k).DepthwiseConv1D(3, padding="same"))))
    add("DepthwiseConv2D", "same_s2_dm2", lambda k: seq(k, (9, 9, 3), L(k).DepthwiseConv2D(3, strides=2, padding="same",
                                                                                            depth_multiplier=2)))
    add("DepthwiseConv2D", "dil2", lambda k: seq(k, (9, 9, 3), L(k).DepthwiseConv2D(3, dilation_rate=2, padding="same")))
    add("DepthwiseConv2D", "channels_first", lambda k: seq(k, (3, 6, 6), L(k).DepthwiseConv2D(3,
                                                                                               data_format="channels_first")))
    add("SeparableConv1D", "same", lambda k: seq(k, (9, 3), L(k).SeparableConv1D(4, 3, padding="same")))
    add("SeparableConv2D", "same_s2_dm2", lambda k: seq(k, (9, 9, 3), L(k).SeparableConv2D(4, 3, strides=2, padding="same",
                                                                                            depth_multiplier=2)))
    add("SeparableConv2D", "dil2", lambda k: seq(k, (9, 9, 3), L(k).SeparableConv2D(2, 3, dilation_rate=2, padding="same")))
    add("SeparableConv2D", "channels_first", lambda k: seq(k, (3, 6, 6), L(k).SeparableConv2D(2, 3,
                                                                                               data_format="channels_first")))
    # -- pooling --------------------------------------------------------------------------------------
    add("MaxPooling1D", "same", lambda k: seq(k, (7, 3), L(k).MaxPooling1D(2, padding="same")))
    add("AveragePooling1D", "same_s2", lambda k: seq(k, (7, 3), L(k).AveragePooling1D(3, strides=2, padding="same")))
    add("MaxPooling2D", "valid", lambda k: seq(k, (8, 7, 3), L(k).MaxPooling2D()))
    add("MaxPooling2D", "same_s2", lambda k: seq(k, (8, 7, 3), L(k).MaxPooling2D(3, strides=2, padding="same")))
    add("MaxPooling2D", "valid_s3", lambda k: seq(k, (8, 7, 3), L(k).MaxPooling2D(2, strides=3)))
    add("MaxPooling2D", "channels_first", lambda k: seq(k, (3, 4, 6), L(k).MaxPooling2D(2, data_format="channels_first")))
    add("AveragePooling2D", "same_s2", lambda k: seq(k, (8, 7, 3), L(k).AveragePooling2D(3, strides=2, padding="same")))
    add("AveragePooling2D", "valid_s1", lambda k: seq(k, (8, 7, 3), L(k).AveragePooling2D(3, strides=1)))
    add("AveragePooling2D", "channels_first", lambda k: seq(k, (3, 4, 6), L(k).AveragePooling2D(2,
                                                                                                 data_format="channels_first")))
    add("MaxPooling3D", "same", lambda k: seq(k, (5, 5, 5, 2), L(k).MaxPooling3D(2, padding="same")))
    add("AveragePooling3D", "valid", lambda k: seq(k, (4, 4, 4, 2), L(k).AveragePooling3D(2)))
    add("GlobalAveragePooling1D", "default", lambda k: seq(k, (5, 3), L(k).GlobalAveragePooling1D()))
    add("GlobalAveragePooling1D", "masked", lambda k: seq(k, (5, 3), L(k).Masking(0.0), L(k).GlobalAveragePooling1D()),
        zero_tail=2)
    add("GlobalMaxPooling1D", "default", lambda k: seq(k, (5, 3), L(k).GlobalMaxPooling1D()))
    add("GlobalAveragePooling2D", "default", lambda k: seq(k, (4, 5, 3), L(k).GlobalAveragePooling2D()))
    add("GlobalAveragePooling2D", "keepdims", lambda k: seq(k, (4, 5, 3), L(k).GlobalAveragePooling2D(keepdims=True)))
    add("GlobalAveragePooling2D", "channels_first", lambda k: seq(k, (3, 4, 5), L(k).GlobalAveragePooling2D(
        data_format="channels_first")))
    add("GlobalMaxPooling2D", "default", lambda k: seq(k, (4, 5, 3), L(k).GlobalMaxPooling2D()))
    add("GlobalAveragePooling3D", "default", lambda k: seq(k, (3, 4, 5, 2), L(k).GlobalAveragePooling3D()))
    add("GlobalMaxPooling3D", "default", lambda k: seq(k, (3, 4, 5, 2), L(k).GlobalMaxPooling3D()))
    add("AdaptiveAveragePooling2D", "4x4->2x2", _only3(lambda k: seq(k, (4, 4, 3), L(k).AdaptiveAveragePooling2D((2, 2)))))
    add("AdaptiveMaxPooling1D", "6->3", _only3(lambda k: seq(k, (6, 3), L(k).AdaptiveMaxPooling1D(3))))
    # -- normalization --------------------------------------------------------------------------------
    add("BatchNormalization", "default", lambda k: seq(k, (4, 5, 3), L(k).BatchNormalization()))
    add("BatchNormalization", "axis1_eps", lambda k: seq(k, (3, 4, 5), L(k).BatchNormalization(axis=1, epsilon=0.1)))
    add("BatchNormalization", "no_center_scale", lambda k: seq(k, (6,), L(k).BatchNormalization(center=False, scale=False)))
    add("LayerNormalization", "default", lambda k: seq(k, (4, 6), L(k).LayerNormalization()))
    add("LayerNormalization", "eps0.5", lambda k: seq(k, (4, 6), L(k).LayerNormalization(epsilon=0.5)))
    add("LayerNormalization", "axes12", lambda k: seq(k, (4, 6), L(k).LayerNormalization(axis=[1, 2])))
    add("LayerNormalization", "axis1", lambda k: seq(k, (4, 6), L(k).LayerNormalization(axis=1)))
    add("LayerNormalization", "no_center", lambda k: seq(k, (4, 6), L(k).LayerNormalization(center=False)))
    add("LayerNormalization", "rms_scaling", _only3(lambda k: seq(k, (4, 6), L(k).LayerNormalization(rms_scaling=True))))
    add("GroupNormalization", "groups2", lambda k: seq(k, (4, 6), L(k).GroupNormalization(groups=2)))
    add("UnitNormalization", "default", lambda k: seq(k, (4, 6), L(k).UnitNormalization()))
    add("RMSNormalization", "default", _only3(lambda k: seq(k, (4, 6), L(k).RMSNormalization())))
    # -- recurrent ------------------------------------------------------------------------------------
    add("SimpleRNN", "default", lambda k: seq(k, (5, 3), L(k).SimpleRNN(4)))
    add("SimpleRNN", "relu_seq", lambda k: seq(k, (5, 3), L(k).SimpleRNN(4, activation="relu", return_sequences=True)))
    add("SimpleRNN", "go_backwards", lambda k: seq(k, (5, 3), L(k).SimpleRNN(4, go_backwards=True)))
    add("SimpleRNN", "return_state", lambda k: _state(k, lambda l: l.SimpleRNN(4, return_state=True)))
    add("LSTM", "default", lambda k: seq(k, (5, 3), L(k).LSTM(4)))
    add("LSTM", "seq_backwards_nofb", lambda k: seq(k, (5, 3), L(k).LSTM(4, go_backwards=True, unit_forget_bias=False,
                                                                          return_sequences=True)))
    add("LSTM", "relu_hard_sigmoid", lambda k: seq(k, (5, 3), L(k).LSTM(4, activation="relu",
                                                                         recurrent_activation="hard_sigmoid")))
    add("LSTM", "no_bias", lambda k: seq(k, (5, 3), L(k).LSTM(4, use_bias=False)))
    add("LSTM", "return_state", lambda k: _state(k, lambda l: l.LSTM(4, return_sequences=True, return_state=True)))
    add("GRU", "reset_after", lambda k: seq(k, (5, 3), L(k).GRU(4)))
    add("GRU", "reset_before", lambda k: seq(k, (5, 3), L(k).GRU(4, reset_after=False)))
    add("GRU", "reset_before_seq_backwards", lambda k: seq(k, (5, 3), L(k).GRU(4, reset_after=False, go_backwards=True,
                                                                                return_sequences=True)))
    add("GRU", "reset_after_backwards", lambda k: seq(k, (5, 3), L(k).GRU(4, go_backwards=True)))
    add("GRU", "relu_sigmoid", lambda k: seq(k, (5, 3), L(k).GRU(4, reset_after=False, activation="relu",
                                                                  recurrent_activation="sigmoid")))
    add("GRU", "return_state", lambda k: _state(k, lambda l: l.GRU(4, return_state=True)))
    add("ConvLSTM1D", "same", lambda k: seq(k, (3, 6, 2), L(k).ConvLSTM1D(2, 3, padding="same")))
    add("ConvLSTM2D", "same", lambda k: seq(k, (3, 5, 5, 2), L(k).ConvLSTM2D(2, 3, padding="same")))
    add("ConvLSTM2D", "valid_seq", lambda k: seq(k, (3, 5, 5, 2), L(k).ConvLSTM2D(2, 3, return_sequences=True)))
    add("RNN", "LSTMCell", lambda k: seq(k, (5, 3), L(k).RNN(L(k).LSTMCell(4))))
    add("RNN", "stacked_cells", lambda k: seq(k, (5, 3), L(k).RNN([L(k).SimpleRNNCell(3), L(k).GRUCell(4)])))
    add("Bidirectional", "LSTM_concat_seq", lambda k: seq(k, (5, 3), L(k).Bidirectional(L(k).LSTM(3, return_sequences=True))))
    add("Bidirectional", "LSTM_mul", lambda k: seq(k, (5, 3), L(k).Bidirectional(L(k).LSTM(3, return_sequences=True),
                                                                                 merge_mode="mul")))
    add("Bidirectional", "GRU_ave", lambda k: seq(k, (5, 3), L(k).Bidirectional(L(k).GRU(3, reset_after=False),
                                                                                merge_mode="ave")))
    add("Bidirectional", "GRU_sum", lambda k: seq(k, (5, 3), L(k).Bidirectional(L(k).GRU(3), merge_mode="sum")))
    add("TimeDistributed", "Conv2D", lambda k: seq(k, (3, 6, 6, 2), L(k).TimeDistributed(L(k).Conv2D(2, 3))))
    add("TimeDistributed", "Dense", lambda k: seq(k, (3, 4), L(k).TimeDistributed(L(k).Dense(2))))
    # -- attention ------------------------------------------------------------------------------------
    add("Attention", "default", lambda k: multi(k, [(4, 3), (5, 3)], lambda i: L(k).Attention()([i[0], i[1]])))
    add("Attention", "causal_scale", lambda k: multi(k, [(4, 3), (4, 3)], lambda i: L(k).Attention(use_scale=True)(
        [i[0], i[1]], use_causal_mask=True)))
    add("AdditiveAttention", "default", lambda k: multi(k, [(4, 3), (5, 3)], lambda i: L(k).AdditiveAttention()([i[0], i[1]])))
    add("MultiHeadAttention", "2heads", lambda k: multi(k, [(4, 6), (5, 6)], lambda i: L(k).MultiHeadAttention(2, 3)(
        i[0], i[1])))
    add("GroupQueryAttention", "4q2kv", _only3(lambda k: multi(k, [(4, 6), (5, 6)], lambda i: L(k).GroupQueryAttention(
        3, 4, 2)(i[0], i[1]))))
    # -- merging --------------------------------------------------------------------------------------
    for merge in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        add(merge, "2 inputs", (lambda m: lambda k: multi(k, [(4, 3), (4, 3)], lambda i: getattr(L(k), m)()(i)))(merge))
    add("Add", "broadcast", lambda k: multi(k, [(4, 3), (1, 3)], lambda i: L(k).Add()(i)))
    add("Concatenate", "axis-1", lambda k: multi(k, [(4, 3), (4, 2)], lambda i: L(k).Concatenate()(i)))
    add("Concatenate", "axis1", lambda k: multi(k, [(4, 3), (2, 3)], lambda i: L(k).Concatenate(axis=1)(i)))
    add("Dot", "axes1", lambda k: multi(k, [(4, 3), (4, 2)], lambda i: L(k).Dot(axes=1)(i)))
    add("Dot", "normalize", lambda k: multi(k, [(4, 3), (4, 3)], lambda i: L(k).Dot(axes=-1, normalize=True)(i)))
    # -- reshaping ------------------------------------------------------------------------------------
    add("Flatten", "default", lambda k: seq(k, (3, 4, 5), L(k).Flatten()))
    add("Flatten", "channels_first", lambda k: seq(k, (3, 4, 5), L(k).Flatten(data_format="channels_first")))
    add("Reshape", "(-1,2)", lambda k: seq(k, (3, 4), L(k).Reshape((-1, 2))))
    add("Permute", "(3,1,2)", lambda k: seq(k, (3, 4, 5), L(k).Permute((3, 1, 2))))
    add("RepeatVector", "2", lambda k: seq(k, (4,), L(k).RepeatVector(2)))
    add("Cropping1D", "(1,2)", lambda k: seq(k, (7, 3), L(k).Cropping1D((1, 2))))
    add("Cropping2D", "asym", lambda k: seq(k, (7, 8, 3), L(k).Cropping2D(((1, 2), (0, 3)))))
    add("Cropping2D", "channels_first", lambda k: seq(k, (3, 4, 5), L(k).Cropping2D(1, data_format="channels_first")))
    add("Cropping3D", "1", lambda k: seq(k, (4, 4, 4, 2), L(k).Cropping3D(1)))
    add("ZeroPadding1D", "(1,2)", lambda k: seq(k, (4, 3), L(k).ZeroPadding1D((1, 2))))
    add("ZeroPadding2D", "asym", lambda k: seq(k, (4, 5, 3), L(k).ZeroPadding2D(((1, 2), (3, 0)))))
    add("ZeroPadding2D", "channels_first", lambda k: seq(k, (3, 4, 5), L(k).ZeroPadding2D(1, data_format="channels_first")))
    add("ZeroPadding3D", "1", lambda k: seq(k, (3, 3, 3, 2), L(k).ZeroPadding3D(1)))
    add("UpSampling1D", "2", lambda k: seq(k, (4, 3), L(k).UpSampling1D(2)))
    add("UpSampling2D", "nearest", lambda k: seq(k, (5, 6, 3), L(k).UpSampling2D((2, 3))))
    add("UpSampling2D", "bilinear", lambda k: seq(k, (5, 6, 3), L(k).UpSampling2D((2, 3), interpolation="bilinear")))
    add("UpSampling2D", "channels_first", lambda k: seq(k, (3, 4, 5), L(k).UpSampling2D(2, data_format="channels_first")))
    add("UpSampling3D", "2", lambda k: seq(k, (3, 3, 3, 2), L(k).UpSampling3D(2)))
    # -- regularization (identity at inference) -------------------------------------------------------
    for name, make in (("Dropout", lambda l: l.Dropout(0.5)), ("SpatialDropout1D", lambda l: l.SpatialDropout1D(0.3)),
                       ("GaussianNoise", lambda l: l.GaussianNoise(0.3)), ("GaussianDropout", lambda l: l.GaussianDropout(0.3)),
                       ("AlphaDropout", lambda l: l.AlphaDropout(0.3)),
                       ("ActivityRegularization", lambda l: l.ActivityRegularization(0.1))):
        add(name, "inference", (lambda m: lambda k: seq(k, (5, 3), m(L(k)), L(k).Dense(2)))(make))
    add("SpatialDropout2D", "inference", lambda k: seq(k, (4, 4, 3), L(k).SpatialDropout2D(0.3), L(k).Dense(2)))
    # -- preprocessing that runs at inference ---------------------------------------------------------
    add("Rescaling", "scale_offset", lambda k: seq(k, (6,), L(k).Rescaling(0.5, offset=-1.0)))
    add("Normalization", "mean_variance", _normalization)
    add("Resizing", "bilinear", lambda k: seq(k, (5, 6, 3), L(k).Resizing(8, 9)))
    add("Resizing", "nearest", lambda k: seq(k, (5, 6, 3), L(k).Resizing(8, 9, interpolation="nearest")))
    add("Resizing", "bilinear_down", lambda k: seq(k, (8, 9, 3), L(k).Resizing(5, 4)))
    add("Resizing", "crop_to_aspect_ratio", lambda k: seq(k, (5, 8, 3), L(k).Resizing(4, 4, crop_to_aspect_ratio=True)))
    add("CenterCrop", "3x4", lambda k: seq(k, (6, 7, 3), L(k).CenterCrop(3, 4)))
    add("CategoryEncoding", "one_hot", lambda k: seq(k, (1,), L(k).CategoryEncoding(5, output_mode="one_hot"),
                                                     dtype="int32"), int_high=5)
    add("CategoryEncoding", "multi_hot", lambda k: seq(k, (3,), L(k).CategoryEncoding(5, output_mode="multi_hot"),
                                                       dtype="int32"), int_high=5)
    add("Discretization", "bins", lambda k: seq(k, (6,), L(k).Discretization(bin_boundaries=[-0.5, 0.0, 0.5])))
    add("IntegerLookup", "vocab", lambda k: seq(k, (4,), L(k).IntegerLookup(vocabulary=[1, 3, 5, 7]), dtype="int32"))
    add("Hashing", "bins4", lambda k: seq(k, (4,), L(k).Hashing(4), dtype="int32"))
    for name, make in (("RandomFlip", lambda l: l.RandomFlip()), ("RandomRotation", lambda l: l.RandomRotation(0.2)),
                       ("RandomZoom", lambda l: l.RandomZoom(0.2)), ("RandomContrast", lambda l: l.RandomContrast(0.2)),
                       ("RandomTranslation", lambda l: l.RandomTranslation(0.1, 0.1)),
                       ("RandomBrightness", lambda l: l.RandomBrightness(0.2))):
        add(name, "inference", (lambda m: lambda k: seq(k, (6, 6, 3), m(L(k)), L(k).Conv2D(2, 3)))(make))
    return out


CASES: list[KerasCase] = _cases()

#: Built-in layers with no case, and why (aliases such as ``Convolution2D``/``MaxPool2D`` are covered by
#: their canonical names; cells such as ``LSTMCell`` through ``RNN``).
NOT_COVERED: dict[str, str] = {
    **{name: "random image augmentation, training only (identity at inference); covered by RandomFlip & co."
       for name in ("AugMix", "CutMix", "MixUp", "RandAugment", "RandomColorDegeneration",
                    "RandomColorJitter", "RandomCrop", "RandomElasticTransform", "RandomErasing", "RandomGaussianBlur",
                    "RandomGrayscale", "RandomHue", "RandomInvert", "RandomPerspective", "RandomPosterization",
                    "RandomSaturation", "RandomSharpness", "RandomShear", "Solarization",
                    "MaxNumBoundingBoxes", "Pipeline")},
    "AutoContrast": "image preprocessing that runs at inference: no case yet (graph-model lowering: "
                    "tests/test_keras_lowering_s15_layers.py)",
    "ContrastLimitedAdaptiveHistogramEqualization": "image preprocessing that runs at inference: no case yet "
                                                    "(graph-model lowering: tests/test_keras_lowering_clahe_s20.py)",
    "Equalization": "image preprocessing that runs at inference: Keras cannot call it on a symbolic input",
    **{name: "string inputs: TF.js layers models take no strings (a graph model would need string ops)"
       for name in ("StringLookup", "TextVectorization", "HashedCrossing")},
    **{name: "wraps a foreign framework or a SavedModel (no Keras config to convert)"
       for name in ("FlaxLayer", "JaxLayer", "TorchModuleWrapper", "TFSMLayer")},
    "MelSpectrogram": "audio front end (STFT): no case yet "
                      "(graph-model lowering: tests/test_keras_lowering_fourier_s20.py)",
    "STFTSpectrogram": "audio front end (STFT): no case yet "
                       "(graph-model lowering: tests/test_keras_lowering_stft_spectrogram_s21.py)",
    "ReversibleEmbedding": "keras_hub-style tied embedding: no case yet",
    "SpectralNormalization": "training-time weight wrapper: no case yet",
    "AdaptiveAveragePooling1D": "covered by AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D": "covered by the 2D case",
    "AdaptiveMaxPooling2D": "covered by AdaptiveMaxPooling1D", "AdaptiveMaxPooling3D": "covered by the 1D case",
    "SpatialDropout3D": "covered by SpatialDropout1D/2D",
    **{name: "a cell: covered through the RNN cases (RNN/LSTMCell, RNN/stacked_cells)"
       for name in ("LSTMCell", "GRUCell", "SimpleRNNCell", "StackedRNNCells")},
    "ConvLSTM3D": "covered by ConvLSTM1D/ConvLSTM2D (TF.js has neither a 3D nor a 1D ConvLSTM layer)",
    "InputLayer": "in every case", "Layer": "base class", "Wrapper": "base class", "RNN": "see RNN cases",
}
