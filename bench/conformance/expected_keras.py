"""Known outcomes of the Keras layer conformance run other than ``pass``: one place, one reason per entry.

Keys are ``"<flavor>:<Layer>/<option>"`` (flavor ``keras3``, ``keras3_h5`` or ``tf_keras``; an entry for
``keras3`` also holds for ``keras3_h5`` unless a later ``flavors=("keras3_h5",)`` entry replaces it); each value maps the columns
that do not pass (``layers-cpu``, ``layers-wasm``, ``layers-webgl``, ``graph-cpu``, ``graph-wasm``,
``graph-webgl``; ``layers=``/``graph=``/``all=`` cover every backend) to their status
(``wrong``, ``error``, ``refused``, ``refused → graph``) and gives ``why``. A ``wrong`` entry is a silent-wrong
bug (the converted model computes something else): fix the mapping or refuse the layer, then drop the
entry. ``tests/test_conformance_keras.py`` fails when any status differs from this table.
"""
from __future__ import annotations

KNOWN: dict[str, dict[str, str]] = {}
COLUMNS = ("layers-cpu", "layers-wasm", "layers-webgl", "graph-cpu", "graph-wasm", "graph-webgl")
BACKENDS = ("cpu", "wasm", "webgl")


def _known(keys: str | list[str], why: str, *, flavors: tuple[str, ...] = ("keras3", "tf_keras"), **columns: str) -> None:
    """``columns``: ``layers``/``graph``/``all``/``<format>_<backend>`` -> status."""
    cells: dict[str, str] = {}
    for name, status in columns.items():
        if name == "all":
            cells.update({c: status for c in COLUMNS})
        elif name in ("layers", "graph"):
            cells.update({f"{name}-{b}": status for b in BACKENDS})
        else:
            cells[name.replace("_", "-")] = status
    if "keras3" in flavors and "keras3_h5" not in flavors:  # Keras 3's .h5 behaves as its .keras unless listed
        flavors = (*flavors, "keras3_h5")
    for key in [keys] if isinstance(keys, str) else keys:
        for flavor in flavors:
            KNOWN[f"{flavor}:{key}"] = {**cells, "why": why}


def expected_status(key: str, column: str) -> str:
    return KNOWN.get(key, {}).get(column, "pass")


def unexpected(key: str, column: str, status: str, build_error: str | None = None) -> str | None:
    """Why an outcome is not the one this table expects, or None."""
    if build_error:
        return None if KNOWN.get(key, {}).get("build") else "Keras rejects the case"
    want = expected_status(key, column)
    if status == "skipped" or status == want:
        return None
    return f"expected {want}, got {status}"


# -- entries --------------------------------------------------------------------------------------------
# Layers-model refusals pointing at the graph-model route, and plain refusals: safe, loud outcomes.
# The reason is the refusal message (shortened).
_known("Activation/exponential", "(Activation): activation: activation 'exponential' does not exist in TF.js", layers="refused → graph")
_known("Activation/hard_sigmoid", "(Activation): activation: activation 'hard_sigmoid': Keras 3 computes relu6(x + 3) / 6, TF.js computes…", flavors=("keras3",), layers="refused → graph")
_known("Activation/hard_silu", "(Activation): activation: activation 'hard_silu' does not exist in TF.js", flavors=("keras3",), layers="refused → graph")
_known("Activation/leaky_relu", "(Activation): activation: activation 'leaky_relu' does not exist in TF.js", layers="refused → graph")
_known("ActivityRegularization/inference", '(ActivityRegularization): TF.js 4.22 has no ActivityRegularization layer', layers="refused → graph")
_known("AdaptiveAveragePooling2D/4x4->2x2", '(AdaptiveAveragePooling2D): TF.js 4.22 has no AdaptiveAveragePooling2D layer', flavors=("keras3",), layers="refused → graph")
_known("AdaptiveMaxPooling1D/6->3", '(AdaptiveMaxPooling1D): TF.js 4.22 has no AdaptiveMaxPooling1D layer', flavors=("keras3",), layers="refused → graph")
_known("AdditiveAttention/default", '(AdditiveAttention): TF.js 4.22 has no AdditiveAttention layer', layers="refused → graph")
_known("Attention/causal_scale", '(Attention): TF.js 4.22 has no Attention layer', layers="refused → graph")
_known("Attention/default", '(Attention): TF.js 4.22 has no Attention layer', layers="refused → graph")
_known("BatchNormalization/axis1_eps", '(BatchNormalization): axis=1 on a rank-4 input: TF.js normalizes it wrongly (TF.js computes it along t…', layers="refused → graph")
_known("Bidirectional/GRU_sum", "(GRU): reset_after=True: TF.js's GRU only implements reset_after=False (reset_after=True is the Keras …", layers="refused → graph")
_known("CenterCrop/3x4", "(CenterCrop): TF.js 4.22's CenterCrop layer rejects its own input shape at run time", layers="refused → graph")
_known("Conv1D/causal_dil2", "(Conv1D): padding='causal': TF.js's Conv1D fails at run time with causal padding", layers="refused → graph")
_known("Conv1D/channels_first", "(Conv1D): data_format='channels_first': TF.js's Conv1D ignores it (channels-last output: wrong shape)", layers="refused → graph")
_known("Conv1D/groups", '(Conv1D): groups=2: TF.js convolutions have no grouped mode', layers="refused → graph")
_known("Conv1DTranspose/valid_s2", '(Conv1DTranspose): TF.js 4.22 has no Conv1DTranspose layer', layers="refused → graph")
_known("Conv2D/groups", '(Conv2D): groups=2: TF.js convolutions have no grouped mode', layers="refused → graph")
_known("Conv2DTranspose/dil2", "(Conv2DTranspose): dilation_rate=[2, 2]: TF.js's transposed convolutions ignore dilation_rate (wrong s…", layers="refused → graph")
_known("Conv2DTranspose/output_padding", "(Conv2DTranspose): output_padding=[1, 1]: TF.js's transposed convolutions ignore output_padding (wrong…", layers="refused → graph")
_known("ConvLSTM1D/same", '(ConvLSTM1D): TF.js 4.22 has no ConvLSTM1D layer', layers="refused → graph")
_known("Cropping1D/(1,2)", '(Cropping1D): TF.js 4.22 has no Cropping1D layer', layers="refused → graph")
_known("Cropping3D/1", '(Cropping3D): TF.js 4.22 has no Cropping3D layer', layers="refused → graph")
_known("DepthwiseConv1D/same", '(DepthwiseConv1D): TF.js 4.22 has no DepthwiseConv1D layer', flavors=("keras3",), layers="refused → graph")
_known("DepthwiseConv2D/dil2", "(DepthwiseConv2D): dilation_rate=[2, 2]: TF.js's DepthwiseConv2D layer computes it wrongly (off by mor…", layers="refused → graph")
_known("Discretization/bins", '(Discretization): TF.js 4.22 has no Discretization layer', flavors=("keras3",), layers="refused → graph")
_known("Discretization/bins", '(Discretization): TF.js 4.22 has no Discretization layer; 1 op type(s) are not supported by TensorFlow.js 4.22: '
       '(saved with an int64 dtype, the layer goes through TensorFlow, whose Bucketize TF.js lacks)',
       flavors=("tf_keras",), layers="refused → graph", graph="refused")
_known("ELU/alpha0.5", "(ELU): alpha=0.5: TF.js's ELU layer refuses alpha other than 1 when loading", layers="refused → graph")
_known("EinsumDense/abc,cd->abd", '(EinsumDense): TF.js 4.22 has no EinsumDense layer', layers="refused → graph")
_known("Embedding/mask_zero+LSTM", '(NotEqual): TF.js 4.22 has no NotEqual layer', flavors=("keras3",), layers="refused → graph")
_known("GRU/reset_after", "(GRU): reset_after=True: TF.js's GRU only implements reset_after=False (reset_after=True is the Keras …", layers="refused → graph")
_known("GRU/reset_after_backwards", "(GRU): reset_after=True: TF.js's GRU only implements reset_after=False (reset_after=True is the Keras …", layers="refused → graph")
_known("GRU/return_state", "(GRU): reset_after=True: TF.js's GRU only implements reset_after=False (reset_after=True is the Keras …", layers="refused → graph")
_known("GlobalAveragePooling1D/masked", "(GlobalAveragePooling1D): receives the mask of a Masking/Embedding layer, which TF.js "
       "ignores (Keras 3's file also has NotEqual/Any layers)", layers="refused → graph")
_known("GlobalAveragePooling2D/keepdims", '(GlobalAveragePooling2D): keepdims=True: TF.js global pooling layers always drop the pooled axes', layers="refused → graph")
_known("GlobalAveragePooling3D/default", '(GlobalAveragePooling3D): TF.js 4.22 has no GlobalAveragePooling3D layer', layers="refused → graph")
_known("GlobalMaxPooling3D/default", '(GlobalMaxPooling3D): TF.js 4.22 has no GlobalMaxPooling3D layer', layers="refused → graph")
_known("GroupNormalization/groups2", '(GroupNormalization): TF.js 4.22 has no GroupNormalization layer', layers="refused → graph")
_known("GroupQueryAttention/4q2kv", '(GroupQueryAttention): TF.js 4.22 has no GroupQueryAttention layer', flavors=("keras3",), layers="refused → graph")
_known("Hashing/bins4", '(Hashing): TF.js 4.22 has no Hashing layer; 1 op type(s) are not supported by TensorFlow.js 4.22:', layers="refused → graph", graph="refused")
_known("Identity/default", '(Identity): TF.js 4.22 has no Identity layer', flavors=("keras3",), layers="refused → graph")
_known("IntegerLookup/vocab", '(IntegerLookup): TF.js 4.22 has no IntegerLookup layer', layers="refused → graph")
_known("LSTM/relu_hard_sigmoid", "(LSTM): recurrent_activation: activation 'hard_sigmoid': Keras 3 computes relu6(x + 3) / 6, TF.js comp…", flavors=("keras3",), layers="refused → graph")
_known("LayerNormalization/rms_scaling", "(LayerNormalization): rms_scaling=True: RMS scaling is not implemented in TF.js",
       flavors=("keras3",), layers="refused → graph")
_known("Lambda/x*2", '(Lambda): a Lambda layer (its function is stored as Python bytecode)', layers="refused → graph", graph="refused")
_known("Masking/GRU_seq", '(NotEqual): TF.js 4.22 has no NotEqual layer; (Any): TF.js 4.22 has no Any layer; (GRU): reset_after=T…', layers="refused → graph")
_known("Masking/LSTM", '(NotEqual): TF.js 4.22 has no NotEqual layer; (Any): TF.js 4.22 has no Any layer', flavors=("keras3",), layers="refused → graph")
_known("MultiHeadAttention/2heads", '(MultiHeadAttention): TF.js 4.22 has no MultiHeadAttention layer', layers="refused → graph")
_known("Normalization/mean_variance", '(Normalization): TF.js 4.22 has no Normalization layer', layers="refused → graph")
_known("RMSNormalization/default", '(RMSNormalization): TF.js 4.22 has no RMSNormalization layer', flavors=("keras3",), layers="refused → graph")
_known("RNN/LSTMCell", "model.keras (model.weights.h5): layer 'rnn' (RNN) has 3 weights; tfjsconv does not know how TF.js names the we…", flavors=("keras3",), layers="refused → graph")
_known("RNN/stacked_cells", "(GRUCell): reset_after=True: TF.js's GRU only implements reset_after=False (reset_after=True is the Ke…", layers="refused → graph")
_known("RandomBrightness/inference", '(RandomBrightness): TF.js 4.22 has no RandomBrightness layer', layers="refused → graph")
_known("RandomContrast/inference", '(RandomContrast): TF.js 4.22 has no RandomContrast layer', layers="refused → graph")
_known("RandomFlip/inference", '(RandomFlip): TF.js 4.22 has no RandomFlip layer', layers="refused → graph")
_known("RandomRotation/inference", '(RandomRotation): TF.js 4.22 has no RandomRotation layer', layers="refused → graph")
_known("RandomTranslation/inference", '(RandomTranslation): TF.js 4.22 has no RandomTranslation layer', layers="refused → graph")
_known("RandomZoom/inference", '(RandomZoom): TF.js 4.22 has no RandomZoom layer', layers="refused → graph")
_known("ReLU/threshold+slope", "(ReLU): negative_slope=0.1: TF.js's ReLU layer only has max_value; (ReLU): threshold=0.2: TF.js's ReLU…", layers="refused → graph")
_known("Resizing/bilinear", "(Resizing): TF.js 4.22's Resizing layer fails at run time ('x must be rank 3 or 4, but got rank 1')", layers="refused → graph")
_known("Resizing/bilinear_down", "(Resizing): TF.js 4.22's Resizing layer fails at run time ('x must be rank 3 or 4, but got rank 1')", layers="refused → graph")
_known("Resizing/crop_to_aspect_ratio", "(Resizing): TF.js 4.22's Resizing layer fails at run time ('x must be rank 3 or 4, but got rank 1')", layers="refused → graph")
_known("Resizing/nearest", "(Resizing): TF.js 4.22's Resizing layer fails at run time ('x must be rank 3 or 4, but got rank 1')", layers="refused → graph")
_known("SeparableConv1D/same", '(SeparableConv1D): TF.js 4.22 has no SeparableConv1D layer', layers="refused → graph")
_known("SeparableConv2D/channels_first", "(SeparableConv2D): data_format='channels_first': TF.js's SeparableConv2D fails at run time (its bias i…", layers="refused → graph")
_known("Softmax/axis1", "(Softmax): axis=1: TF.js's Softmax layer fails at run time on any axis but the last", layers="refused → graph")
_known("SpatialDropout2D/inference", '(SpatialDropout2D): TF.js 4.22 has no SpatialDropout2D layer', layers="refused → graph")
_known("Subtract/2 inputs", '(Subtract): TF.js 4.22 has no Subtract layer', layers="refused → graph")
_known("UnitNormalization/default", '(UnitNormalization): TF.js 4.22 has no UnitNormalization layer', layers="refused → graph")
_known("UpSampling1D/2", '(UpSampling1D): TF.js 4.22 has no UpSampling1D layer', layers="refused → graph")
_known("UpSampling2D/bilinear", "(UpSampling2D): interpolation='bilinear': Keras resizes with half-pixel centers, TF.js's UpSampling2D …", layers="refused → graph")
_known("UpSampling3D/2", '(UpSampling3D): TF.js 4.22 has no UpSampling3D layer', layers="refused → graph")
_known("ZeroPadding1D/(1,2)", '(ZeroPadding1D): TF.js 4.22 has no ZeroPadding1D layer', layers="refused → graph")
_known("ZeroPadding3D/1", '(ZeroPadding3D): TF.js 4.22 has no ZeroPadding3D layer', layers="refused → graph")

# -- silent-wrong bugs (wrong numbers or shapes) and TF.js errors: each one to fix or to refuse -------------
_known("CategoryEncoding/one_hot", "layers: refused → graph (TF.js's CategoryEncoding overwrites its input's shape "
       "with its output's, so TF.js rejects the real input)", flavors=("keras3",), layers="refused → graph")
_known("CategoryEncoding/one_hot", "(CategoryEncoding): TF.js 4.22's CategoryEncoding layer overwrites its input's "
       "shape with its output's…", flavors=("tf_keras",), layers="refused → graph")
_known("CategoryEncoding/multi_hot", "(CategoryEncoding): TF.js 4.22's CategoryEncoding layer overwrites its input's "
       "shape with its output's…", layers="refused → graph")
_known("Conv3DTranspose/same_s2", "layers wasm: refused (TF.js wasm's conv3dTranspose gives other numbers; cpu "
       "and webgl pass); graph models pass (Conv3DBackpropInputV2 → zero-stuffed Conv3D, its rank-6 pads lowered "
       "for webgl)", layers_wasm="refused")
_known("MaxPooling3D/same", "layers wasm: refused (wasm's maxPool3d pads 'same' windows with ~0, 1.2e-38, instead "
       "of ignoring them); graph models pass (the 3-D pool is rewritten into 2-D pools)", layers_wasm="refused")

# -- Keras 3's legacy .h5 (flavor keras3_h5): where it differs from Keras 3's .keras ---------------------------
# Keras 3 cannot load some .h5 files it saved itself; the graph route lowers them with h5py (no Keras needed),
# and both routes are checked against the model that saved the file.
_known(["Embedding/mask_zero+LSTM", "Masking/LSTM", "Masking/GRU_seq", "GlobalAveragePooling1D/masked"],
       "Keras 3 cannot reload its own .h5 (Unknown layer: 'NotEqual'); the graph model is lowered without Keras "
       "(the recorded NotEqual/Any mask ops are read as the mask)", flavors=("keras3_h5",), layers="refused → graph")
_known(["Attention/default", "Attention/causal_scale"],
       "Keras 3 cannot reload its own .h5 (Attention's config does not deserialize); the graph model is lowered "
       "without Keras", flavors=("keras3_h5",), layers="refused → graph")
_known("RandomBrightness/inference", "Keras 3 cannot save it as .h5 (TypeError: cannot pickle 'module' object)",
       flavors=("keras3_h5",), build="Keras rejects")
