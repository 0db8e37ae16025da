"""The one landmark schema of the project: 75 named points in three parts.

Order: pose 0-32, left hand 33-53, right hand 54-74, each point (x, y, z) as MediaPipe Holistic
gives it (x, y normalised to the image width/height, z relative depth). "left" and "right" are the
signer's own hands, as MediaPipe names them on an unmirrored image (a camera facing the signer).

Select points by name with `index(...)` / `part_slice(...)`; never write raw indices elsewhere.
"""

from __future__ import annotations

POSE_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip

HAND_NAMES: tuple[str, ...] = (
    "wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip", "index_finger_mcp",
    "index_finger_pip", "index_finger_dip", "index_finger_tip", "middle_finger_mcp",
    "middle_finger_pip", "middle_finger_dip", "middle_finger_tip", "ring_finger_mcp",
    "ring_finger_pip", "ring_finger_dip", "ring_finger_tip", "pinky_mcp", "pinky_pip",
    "pinky_dip", "pinky_tip",
)  # fmt: skip

#: Parts in storage order, with their point names.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pose", POSE_NAMES),
    ("left_hand", HAND_NAMES),
    ("right_hand", HAND_NAMES),
)
PART_NAMES: tuple[str, ...] = tuple(name for name, _ in PARTS)
NUM_POINTS = sum(len(names) for _, names in PARTS)  # 75
NUM_COORDS = 3
NUM_POSITION_FEATURES = NUM_POINTS * NUM_COORDS  # 225

_OFFSETS: dict[str, int] = {}
_offset = 0
for _part, _names in PARTS:
    _OFFSETS[_part] = _offset
    _offset += len(_names)
del _offset

#: Fully qualified names, e.g. "pose.left_wrist", "right_hand.index_finger_tip".
POINT_NAMES: tuple[str, ...] = tuple(f"{part}.{n}" for part, names in PARTS for n in names)


def part_slice(part: str) -> slice:
    """The rows of `part` ("pose", "left_hand", "right_hand") in a (75, 3) array."""
    if part not in _OFFSETS:
        raise KeyError(f"unknown part {part!r}; expected one of {PART_NAMES}")
    start = _OFFSETS[part]
    return slice(start, start + len(dict(PARTS)[part]))


def index(part: str, name: str) -> int:
    """Row of one named point, e.g. `index("pose", "left_shoulder")` -> 11."""
    names = dict(PARTS)[part]
    return _OFFSETS[part] + names.index(name)


#: The skeleton drawn by the overlay and by keypoint animations: pairs of point rows.
POSE_EDGES: tuple[tuple[int, int], ...] = tuple(
    (index("pose", a), index("pose", b))
    for a, b in (
        ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_elbow"),
        ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"),
        ("right_elbow", "right_wrist"), ("left_shoulder", "left_hip"),
        ("right_shoulder", "right_hip"), ("left_hip", "right_hip"),
        ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"),
        ("right_eye", "right_ear"), ("mouth_left", "mouth_right"),
        ("left_wrist", "left_index"), ("left_wrist", "left_pinky"), ("left_index", "left_pinky"),
        ("left_wrist", "left_thumb"), ("right_wrist", "right_index"),
        ("right_wrist", "right_pinky"), ("right_index", "right_pinky"),
        ("right_wrist", "right_thumb"),
    )
)  # fmt: skip

_HAND_CHAINS = (
    ("wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip"),
    ("wrist", "index_finger_mcp", "index_finger_pip", "index_finger_dip", "index_finger_tip"),
    ("middle_finger_mcp", "middle_finger_pip", "middle_finger_dip", "middle_finger_tip"),
    ("ring_finger_mcp", "ring_finger_pip", "ring_finger_dip", "ring_finger_tip"),
    ("wrist", "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip"),
    ("index_finger_mcp", "middle_finger_mcp", "ring_finger_mcp", "pinky_mcp"),
)


def hand_edges(part: str) -> tuple[tuple[int, int], ...]:
    """Bone pairs of one hand part, as rows of the (75, 3) array."""
    return tuple(
        (index(part, a), index(part, b))
        for chain in _HAND_CHAINS
        for a, b in zip(chain[:-1], chain[1:])
    )


#: Horizontal mirroring: row permutation that swaps left and right (pose names and hand parts).
def _mirror_permutation() -> tuple[int, ...]:
    perm = []
    for part, names in PARTS:
        for n in names:
            if part == "pose":
                if n.startswith("left_"):
                    other = "right_" + n[len("left_"):]
                elif n.startswith("right_"):
                    other = "left_" + n[len("right_"):]
                elif n == "mouth_left":
                    other = "mouth_right"
                elif n == "mouth_right":
                    other = "mouth_left"
                else:
                    other = n
                perm.append(index("pose", other))
            else:
                other_part = "right_hand" if part == "left_hand" else "left_hand"
                perm.append(index(other_part, n))
    return tuple(perm)


MIRROR_PERMUTATION: tuple[int, ...] = _mirror_permutation()
