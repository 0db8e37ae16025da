"""BiGRU with attention pooling over keypoint features (the ASL Citizen seed architecture).

Module names and shapes match the published checkpoint
`SharoonArshad/asl-citizen-bigru-attention-encoder-200` (2,586,957 parameters for 200 classes):

    (B, 200, 450) -> input_norm (LayerNorm 450)
                  -> projection (Linear 450->256, LayerNorm 256, activation, Dropout) # (B, T, 256)
                  -> gru (2-layer bidirectional GRU, hidden 256)                  # (B, T, 512)
                  -> attention_pool (Linear 512->256, Tanh, Linear 256->1; softmax over T)
                                                                                  # (B, 512), (B, T)
                  -> embedding (Linear 512->512, LayerNorm 512, activation, Dropout)  # (B, 512)
                  -> classifier (Linear 512->num_classes)                         # (B, C)

The parameterless parts (activation functions, dropout placement) are not recorded in a state_dict:
the activation after the projection and embedding LayerNorms is the `activation` argument ("gelu",
our reading of the recipe, "relu" or "none"; the same state_dict loads strictly into each), and
dropout follows each normalised block. Everything with weights is exactly the published layout, so
the published checkpoint loads strictly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import nn


#: The readings of the parameterless activation layers, by name.
ACTIVATIONS: dict[str, type[nn.Module]] = {"gelu": nn.GELU, "relu": nn.ReLU, "none": nn.Identity}


@dataclass(frozen=True)
class BiGRUAttentionConfig:
    """Sizes of the model; the keys are those of the published checkpoint's `config`."""

    input_dim: int = 450
    projection_dim: int = 256
    hidden_dim: int = 256
    num_gru_layers: int = 2
    num_classes: int = 200
    dropout: float = 0.35
    #: Activation after the projection and embedding LayerNorms (not recorded by a state_dict).
    activation: Literal["gelu", "relu", "none"] = "gelu"

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {self.activation!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "BiGRUAttentionConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown BiGRU-attention config keys {unknown}; known: {sorted(known)}")
        return cls(**data)


class AttentionOutput(NamedTuple):
    """What a user wants to look at: scores, where the model looked, and the clip embedding."""

    logits: torch.Tensor  # (B, C)
    attention: torch.Tensor  # (B, T), sums to 1 over T
    embedding: torch.Tensor  # (B, 2 * hidden_dim)


class AttentionPool(nn.Module):
    """Additive attention pooling over time; returns the pooled vector and its weights."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.attention = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T, D); mask: optional (B, T) bool, True where a frame is real."""
        scores = self.attention(x).squeeze(-1)  # (B, T)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores.float(), dim=1).to(x.dtype)  # (B, T)
        pooled = torch.bmm(weights.unsqueeze(1), x).squeeze(1)  # (B, D)
        return pooled, weights


class BiGRUAttention(nn.Module):
    def __init__(self, config: BiGRUAttentionConfig = BiGRUAttentionConfig()) -> None:
        super().__init__()
        self.config = config
        c = config
        self.input_norm = nn.LayerNorm(c.input_dim)
        self.projection = nn.Sequential(
            nn.Linear(c.input_dim, c.projection_dim),
            nn.LayerNorm(c.projection_dim),
            ACTIVATIONS[c.activation](),
            nn.Dropout(c.dropout),
        )
        self.gru = nn.GRU(
            c.projection_dim,
            c.hidden_dim,
            num_layers=c.num_gru_layers,
            batch_first=True,
            bidirectional=True,
            dropout=c.dropout if c.num_gru_layers > 1 else 0.0,
        )
        out_dim = 2 * c.hidden_dim
        self.attention_pool = AttentionPool(out_dim, c.hidden_dim)
        self.embedding = nn.Sequential(
            nn.Linear(out_dim, out_dim),
            nn.LayerNorm(out_dim),
            ACTIVATIONS[c.activation](),
            nn.Dropout(c.dropout),
        )
        self.classifier = nn.Linear(out_dim, c.num_classes)

    @property
    def embedding_dim(self) -> int:
        return 2 * self.config.hidden_dim

    def forward_features(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, input_dim) -> embedding (B, 2H) and attention weights (B, T)."""
        x = self.projection(self.input_norm(x))  # (B, T, P)
        x, _ = self.gru(x)  # (B, T, 2H)
        pooled, weights = self.attention_pool(x, mask)  # (B, 2H), (B, T)
        return self.embedding(pooled), weights

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        """(B, 2H) -> logits (B, C)."""
        return self.classifier(embedding)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, input_dim) -> logits (B, C)."""
        embedding, _ = self.forward_features(x, mask)
        return self.forward_head(embedding)

    def forward_with_attention(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> AttentionOutput:
        """Logits, attention over the T frames (sums to 1), and the embedding."""
        embedding, weights = self.forward_features(x, mask)
        return AttentionOutput(self.forward_head(embedding), weights, embedding)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head (e.g. to fine-tune on another vocabulary)."""
        self.classifier = nn.Linear(self.embedding_dim, num_classes)
        self.config = dataclasses.replace(self.config, num_classes=num_classes)

    def encoder_state_dict(self) -> dict[str, torch.Tensor]:
        """Everything but the classifier: the encoder-only export (clip -> 512-d embedding)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("classifier.")}


def build_bigru_attention(**kwargs) -> BiGRUAttention:
    """Builder with keyword sizes, e.g. `build_bigru_attention(num_classes=12)`."""
    return BiGRUAttention(BiGRUAttentionConfig(**kwargs))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
