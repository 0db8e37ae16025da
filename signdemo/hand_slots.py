"""MediaPipe **Hands** results in the project's (75, 3) schema.

MediaPipe Hands (`max_num_hands=2`) returns up to two hands per frame in detection order, not as
the signer's left and right (its own "handedness" label guesses from the hand's look, and mirrors
with the image). A rule decides which slot is which hand; the default, "wrist_x", agrees best with
what Holistic (which knows the body) calls left and right on the same frames of the shared WLASL
clips (`python -m signdemo.train.wlasl_hands ... --check-handedness CLIPS`). Used by the reader of
the WLASL hand data and by `landmarks.HandsExtractor`, so a model trained on the one gets the same
slots from the other.

A slot array is (T, 2, 21, 3) float: (x, y, z) of the 21 hand points as MediaPipe gives them, a
missing hand all -1 (the layout of the WLASL hand data).
"""

from __future__ import annotations

import numpy as np

from . import schema

_WRIST = schema.HAND_NAMES.index("wrist")
_LEFT, _RIGHT = schema.part_slice("left_hand"), schema.part_slice("right_hand")

#: Candidate rules for the signer's left/right hand of the two detection-order slots.
#: x is the image coordinate of an unmirrored video: the signer faces the camera, so their left
#: hand appears on the image's right (larger x).
HAND_RULES = {
    "wrist_x": "two hands: the one with the larger wrist x is the left; one hand: left when its wrist x > 0.5",
    "centre_x": "as wrist_x, with the mean x of the hand's 21 points instead of the wrist",
    "slot0_left": "the first slot is the left hand, the second the right",
    "slot0_right": "the first slot is the right hand, the second the left",
}
DEFAULT_HAND_RULE = "wrist_x"


def slot_present(slots: np.ndarray) -> np.ndarray:
    """(T, 2, 21, 3) -> (T, 2) bool: the slot holds a hand (missing hands are all -1)."""
    return ~(slots == -1).all(axis=(2, 3))


def slot_sides(slots: np.ndarray, rule: str = DEFAULT_HAND_RULE) -> np.ndarray:
    """(T, 2, 21, 3) slots -> (T, 2) int: 0 = the signer's left hand, 1 = right, -1 = no hand."""
    if rule not in HAND_RULES:
        raise ValueError(f"unknown hand rule {rule!r}; expected one of {sorted(HAND_RULES)}")
    present = slot_present(slots)  # (T, 2)
    if rule in ("slot0_left", "slot0_right"):
        order = np.array([0, 1] if rule == "slot0_left" else [1, 0])
        return np.where(present, order[None], -1)
    x = slots[:, :, _WRIST, 0] if rule == "wrist_x" else slots[..., 0].mean(axis=2)  # (T, 2)
    sides = np.full(present.shape, -1, dtype=np.int64)
    both = present.all(axis=1)
    first_is_left = x[:, 0] > x[:, 1]
    sides[both, 0] = np.where(first_is_left[both], 0, 1)
    sides[both, 1] = 1 - sides[both, 0]
    for s in (0, 1):
        alone = present[:, s] & ~both
        sides[alone, s] = np.where(x[alone, s] > 0.5, 0, 1)
    return sides


def hands_to_schema(slots: np.ndarray, rule: str = DEFAULT_HAND_RULE) -> tuple[np.ndarray, np.ndarray]:
    """(T, 2, 21, 3) detection-order slots -> the project's (T, 75, 3) points and (T, 3) presence.

    No pose (its rows stay zero, its presence False). When a rule puts both slots on one side, the
    first slot is kept."""
    t = len(slots)
    points = np.zeros((t, schema.NUM_POINTS, schema.NUM_COORDS), dtype=np.float32)  # (T, 75, 3)
    present = np.zeros((t, len(schema.PART_NAMES)), dtype=bool)  # (T, 3)
    sides = slot_sides(slots, rule)
    for s in (1, 0):  # slot 0 last: it wins a tie
        for side, rows in ((0, _LEFT), (1, _RIGHT)):
            on = sides[:, s] == side
            points[on, rows] = slots[on, s]
            present[on, 1 + side] = True
    return points, present
