"""Small PyTorch models for the ONNX/PyTorch tests and benchmarks: random weights, nothing downloaded.

Each builder returns ``(module, example_inputs)`` with the module in eval mode. ``size="test"`` keeps
them tiny for CI; ``size="bench"`` is a bit larger for ``bench/``. Transformers models use eager
attention (their SDPA path exports differently per version).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def plain_cnn(size: str = "test") -> tuple[Any, tuple]:
    import torch
    from torch import nn

    _seed(1)
    width = 8 if size == "test" else 32
    model = nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, 10))
    _randomize_bn(model)
    hw = 16 if size == "test" else 64
    return model.eval(), (torch.randn(2, 3, hw, hw),)


def mobilenet(size: str = "test") -> tuple[Any, tuple]:
    """MobileNetV2-style: expand 1x1, depthwise 3x3 (stride 1 with a residual, or stride 2), project 1x1."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int, expand: int = 4) -> None:
            super().__init__()
            hidden = cin * expand
            self.residual = stride == 1 and cin == cout
            self.body = nn.Sequential(
                nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
                nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
                nn.BatchNorm2d(hidden), nn.ReLU6(),
                nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = self.body(x)
            return x + y if self.residual else y

    _seed(2)
    w = 8 if size == "test" else 16
    model = nn.Sequential(
        nn.Conv2d(3, w, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU6(),
        Block(w, w, 1), Block(w, 2 * w, 2), Block(2 * w, 2 * w, 1),
        nn.Conv2d(2 * w, 4 * w, 1), nn.Hardswish(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(4 * w, 10))
    _randomize_bn(model)
    hw = 32 if size == "test" else 96
    return model.eval(), (torch.randn(1, 3, hw, hw),)


def _randomize_bn(model: Any) -> None:
    """Non-trivial running statistics, so a wrong batch norm shows."""
    import torch
    from torch import nn

    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)


def _hf_wrapper(model: Any, output: str, arg_names: tuple[str, ...] = ("pixel_values",)) -> Any:
    """``model`` with positional tensor arguments (passed on by name) returning one plain tensor."""
    from torch import nn

    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args):
            return getattr(self.model(**dict(zip(arg_names, args))), output)

    return Wrapper().eval()


def with_sdpa(wrapped: Any) -> Any:
    """A transformers test model switched to "sdpa" attention (F.scaled_dot_product_attention), which
    the dynamo exporter writes as one ONNX ``Attention`` node at opset 23."""
    wrapped.model.config._attn_implementation = "sdpa"
    return wrapped


def hf_resnet(size: str = "test") -> tuple[Any, tuple]:
    import torch
    from transformers import ResNetConfig, ResNetModel

    _seed(3)
    sizes = [8, 16] if size == "test" else [32, 64, 128, 256]
    config = ResNetConfig(num_channels=3, embedding_size=8 if size == "test" else 32, hidden_sizes=sizes,
                          depths=[1] * len(sizes) if size == "test" else [2] * len(sizes), layer_type="basic")
    model = ResNetModel(config).eval()
    _randomize_bn(model)
    hw = 32 if size == "test" else 96
    return _hf_wrapper(model, "pooler_output"), (torch.randn(1, 3, hw, hw),)


def _small_text_config(size: str) -> dict:
    if size == "test":
        return dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    return dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512)


def hf_bert(size: str = "test") -> tuple[Any, tuple]:
    import torch
    from transformers import BertConfig, BertModel

    _seed(4)
    config = BertConfig(vocab_size=100, max_position_embeddings=64, attn_implementation="eager",
                        **_small_text_config(size))
    model = BertModel(config, add_pooling_layer=False).eval()
    seq = 8 if size == "test" else 32
    ids = torch.randint(0, 100, (2, seq))
    mask = torch.ones(2, seq, dtype=torch.int64)
    mask[1, seq // 2:] = 0  # a padded second sequence: the mask matters
    return _hf_wrapper(model, "last_hidden_state", ("input_ids", "attention_mask")), (ids, mask)


def hf_vit(size: str = "test") -> tuple[Any, tuple]:
    import torch
    from transformers import ViTConfig, ViTModel

    _seed(5)
    hw = 32 if size == "test" else 64
    config = ViTConfig(image_size=hw, patch_size=8, num_channels=3, attn_implementation="eager",
                       **_small_text_config(size))
    model = ViTModel(config, add_pooling_layer=False).eval()
    return _hf_wrapper(model, "last_hidden_state"), (torch.randn(1, 3, hw, hw),)


def hf_gpt2(size: str = "test") -> tuple[Any, tuple]:
    import torch
    from transformers import GPT2Config, GPT2Model

    _seed(6)
    c = _small_text_config(size)
    config = GPT2Config(vocab_size=100, n_positions=64, n_embd=c["hidden_size"], n_layer=c["num_hidden_layers"],
                        n_head=c["num_attention_heads"], attn_implementation="eager", use_cache=False)
    model = GPT2Model(config).eval()
    seq = 8 if size == "test" else 32
    ids = torch.randint(0, 100, (2, seq))
    mask = torch.ones(2, seq, dtype=torch.int64)  # given explicitly: without it transformers traces aten::diff
    mask[1, seq - 2:] = 0
    return _hf_wrapper(model, "last_hidden_state", ("input_ids", "attention_mask")), (ids, mask)


def lstm(size: str = "test") -> tuple[Any, tuple]:
    import torch
    from torch import nn

    class Tagger(nn.Module):
        def __init__(self, features: int, hidden: int) -> None:
            super().__init__()
            self.rnn = nn.LSTM(features, hidden, num_layers=2, batch_first=True, bidirectional=True)
            self.head = nn.Linear(2 * hidden, 5)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.head(y)

    _seed(7)
    hidden = 8 if size == "test" else 64
    seq = 6 if size == "test" else 32
    return Tagger(4, hidden).eval(), (torch.randn(2, seq, 4),)


def gru(size: str = "test") -> tuple[Any, tuple]:
    import torch
    from torch import nn

    class Encoder(nn.Module):
        def __init__(self, features: int, hidden: int) -> None:
            super().__init__()
            self.rnn = nn.GRU(features, hidden, batch_first=True, bidirectional=True)
            self.head = nn.Linear(2 * hidden, 3)

        def forward(self, x):
            y, h = self.rnn(x)
            return self.head(y[:, -1]), h

    _seed(8)
    hidden = 8 if size == "test" else 64
    seq = 6 if size == "test" else 32
    return Encoder(4, hidden).eval(), (torch.randn(2, seq, 4),)


BUILDERS: dict[str, Callable[..., tuple[Any, tuple]]] = {
    "plain_cnn": plain_cnn, "mobilenet": mobilenet, "hf_resnet": hf_resnet, "hf_bert": hf_bert,
    "hf_vit": hf_vit, "hf_gpt2": hf_gpt2, "lstm": lstm, "gru": gru,
}
#: Models whose 4-D input and output obey the transpose limits (CNNs).
CNNS = ("plain_cnn", "mobilenet", "hf_resnet")
INPUT_NAMES = {"hf_bert": ["input_ids", "attention_mask"], "hf_gpt2": ["input_ids", "attention_mask"]}
