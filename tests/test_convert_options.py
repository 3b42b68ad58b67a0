"""The Python API takes comma-separated strings where the flags do, and still refuses contradictions."""
from __future__ import annotations

import pytest

from tfjsconv.errors import UsageError
from tfjsconv.options import ConvertOptions


def test_output_node_names_as_one_string_are_split_like_the_flag():
    options = ConvertOptions.from_kwargs(output_node_names="logits, probs,", input_format="tf_frozen_model")
    assert options.output_node_names == ["logits", "probs"]


def test_output_node_names_stay_refused_for_other_input_formats():
    with pytest.raises(UsageError, match="--output_node_names applies to --input_format=tf_frozen_model only"):
        ConvertOptions.from_kwargs(output_node_names="a,b", input_format="keras")
