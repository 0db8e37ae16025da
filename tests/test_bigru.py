import numpy as np
import pytest
import torch

from _paths import need_shared
from signdemo.models.bigru_attention import BiGRUAttention, BiGRUAttentionConfig, build_bigru_attention, count_parameters
from signdemo.weights import load_state_dict_strict, read_checkpoint, split_checkpoint


def _tsv(path):
    rows = path.read_text().splitlines()[1:]
    return {k: tuple(int(x) for x in s.strip("()").split(",") if x.strip()) for k, s, _ in (r.split("\t") for r in rows)}


def test_layout_matches_published_checkpoint():
    expected = _tsv(need_shared("fixtures", "bigru_seed_layout", "bigru_state_dict.tsv"))
    model = build_bigru_attention()
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == expected
    assert count_parameters(model) == 2_586_957


def test_standin_checkpoint_loads_strictly():
    obj = read_checkpoint(need_shared("fixtures", "bigru_seed_layout", "bigru_seed_layout_random.pt"))
    state_dict, config = split_checkpoint(obj)
    model = BiGRUAttention(BiGRUAttentionConfig.from_dict(config)).eval()
    load_state_dict_strict(model, state_dict)
    assert torch.equal(model.classifier.weight, state_dict["classifier.weight"])


def test_forward_attention_and_embedding():
    torch.manual_seed(0)
    model = build_bigru_attention(num_classes=7).eval()
    x = torch.randn(3, 200, 450)
    out = model.forward_with_attention(x)
    assert out.logits.shape == (3, 7)
    assert out.attention.shape == (3, 200)
    assert out.embedding.shape == (3, 512)
    assert torch.allclose(out.attention.sum(dim=1), torch.ones(3), atol=1e-5)
    assert (out.attention >= 0).all()
    assert torch.allclose(model(x), out.logits, atol=1e-6)


def test_attention_mask_ignores_padded_frames():
    torch.manual_seed(0)
    model = build_bigru_attention(num_classes=4).eval()
    x = torch.randn(1, 200, 450)
    mask = torch.zeros(1, 200, dtype=torch.bool)
    mask[:, :50] = True
    out = model.forward_with_attention(x, mask)
    assert torch.all(out.attention[:, 50:] == 0)
    assert torch.allclose(out.attention.sum(), torch.tensor(1.0), atol=1e-5)


def test_configurable_sizes_and_reset_classifier():
    model = build_bigru_attention(input_dim=30, projection_dim=16, hidden_dim=8, num_gru_layers=1, num_classes=3)
    assert model(torch.randn(2, 20, 30)).shape == (2, 3)
    model.reset_classifier(11)
    assert model.config.num_classes == 11
    assert model(torch.randn(2, 20, 30)).shape == (2, 11)


def test_encoder_export_is_everything_but_the_classifier():
    model = build_bigru_attention(num_classes=5)
    enc = model.encoder_state_dict()
    assert not any(k.startswith("classifier.") for k in enc)
    assert set(enc) | {"classifier.weight", "classifier.bias"} == set(model.state_dict())
    # the encoder loads into a model with another head (transfer to a new vocabulary)
    other = build_bigru_attention(num_classes=9)
    missing, unexpected = other.load_state_dict(enc, strict=False)
    assert sorted(missing) == ["classifier.bias", "classifier.weight"] and not unexpected
    x = torch.randn(1, 200, 450)
    model.eval(), other.eval()
    assert torch.allclose(model.forward_features(x)[0], other.forward_features(x)[0], atol=1e-6)


def test_unknown_config_key_is_refused():
    with pytest.raises(ValueError, match="unknown"):
        BiGRUAttentionConfig.from_dict({"input_dim": 450, "num_heads": 4})
