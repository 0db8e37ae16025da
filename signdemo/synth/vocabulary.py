"""The synthetic signer's vocabulary: 14 arm-and-hand movements a person can copy at a webcam.

The movements are loosely inspired by ASL signs but are NOT ASL: they are chosen so that MediaPipe's
pose landmarks (wrist and elbow trajectories relative to the face and shoulders) tell them apart.
Classes differ by trajectory shape, height, one vs two hands and repetition, never only by which
hand moves: a left-handed performance is the mirror image of the same class.

Keyframes are in signing coordinates of a right-handed signer (see `kinematics`): offsets are
(lat, down, fwd) in shoulder widths from a named anchor, lat > 0 towards the dominant side.
Each key places the WRIST; `fingers` / `palm` orient the hand.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from signdemo.synth.kinematics import ArmKey, Key


@dataclass(frozen=True)
class SignClass:
    """One class: its label, a title and description for the "try these" table, and its keys."""

    name: str  # label, a Python identifier
    title: str
    description: str  # what it looks like
    how_to: str  # how to perform it in front of a webcam
    hands: int  # 1 or 2
    keys: tuple[Key, ...]


def mirror_key(k: ArmKey) -> ArmKey:
    """The same arm target for the other side (lat negated, "_d" <-> "_n" anchors swapped)."""
    swap = {"_d": "_n", "_n": "_d"}
    at = k.at[:-2] + swap[k.at[-2:]] if k.at[-2:] in swap else k.at
    neg = np.array([-1.0, 1.0, 1.0])
    return replace(
        k,
        at=at,
        offset=tuple(np.asarray(k.offset) * neg),
        fingers=tuple(np.asarray(k.fingers) * neg),
        palm=tuple(np.asarray(k.palm) * neg),
        pole=tuple(np.asarray(k.pole) * neg),
    )


def _both(t: float, d: ArmKey, stop: bool = True) -> Key:
    """A key where the non-dominant arm mirrors the dominant one."""
    return Key(t, d, mirror_key(d), stop)


def _hello() -> tuple[Key, ...]:
    start = ArmKey("forehead", (0.5, 0.17, 0.06), fingers=(-0.9, -0.35, -0.1), palm=(0.0, 0.6, 0.8),
                   pole=(1.0, 0.6, -0.1))  # fmt: skip
    end = ArmKey("forehead", (0.85, 0.12, 0.35), fingers=(-0.4, -0.7, 0.6), palm=(0.0, 0.2, 1.0),
                 pole=(1.0, 0.8, 0.0))  # fmt: skip
    return (Key(0.0, start), Key(0.25, start), Key(0.75, end))


def _thank_you() -> tuple[Key, ...]:
    start = ArmKey("chin", (0.05, 0.43, 0.14), fingers=(0.0, -1.0, -0.2), palm=(0.0, 0.0, -1.0),
                   pole=(0.5, 1.0, -0.3))  # fmt: skip
    end = ArmKey("chin", (0.12, 0.55, 0.6), fingers=(0.0, -0.35, 1.0), palm=(0.0, -1.0, -0.3),
                 pole=(0.5, 1.0, -0.2))  # fmt: skip
    return (Key(0.0, start), Key(0.2, start), Key(0.75, end))


def _please() -> tuple[Key, ...]:
    keys = []
    radius, center = 0.12, np.array([0.12, 0.3, 0.05])
    steps, loops, period = 8, 2, 0.55
    for i in range(steps * loops + 1):
        a = 2 * np.pi * i / steps
        off = center + radius * np.array([np.cos(a), np.sin(a), 0.0])
        arm = ArmKey("chest", tuple(off), fingers=(-0.5, -1.0, 0.0), palm=(0.0, 0.0, -1.0))
        keys.append(Key(period * i / steps, arm, stop=i in (0, steps * loops)))
    return tuple(keys)


def _push() -> tuple[Key, ...]:
    start = ArmKey("shoulder_d", (-0.12, 0.15, 0.25), fingers=(0.0, -1.0, 0.1), palm=(0.0, 0.0, 1.0),
                   pole=(0.5, 1.0, -0.2))  # fmt: skip
    end = ArmKey("shoulder_d", (-0.16, 0.1, 0.95), fingers=(0.0, -1.0, 0.3), palm=(0.0, 0.2, 1.0),
                 pole=(0.5, 1.0, -0.2))  # fmt: skip
    return (_both(0.0, start), _both(0.15, start), _both(0.6, end))


def _time() -> tuple[Key, ...]:
    wrist_n = ArmKey("chest", (0.0, 0.27, 0.18), fingers=(1.0, 0.1, 0.2), palm=(0.0, 1.0, -0.5),
                     pole=(-0.4, 1.0, -0.2))  # fmt: skip
    # Elbow out to the side so the forearm is near horizontal and the wrist bends naturally.
    up = ArmKey("chest", (0.2, -0.1, 0.24), fingers=(-0.6, 1.0, 0.0), palm=(-1.0, 0.0, -0.3),
                shape="point", pole=(1.0, 0.1, -0.3))  # fmt: skip
    down = replace(up, offset=(0.18, 0.0, 0.24))
    return tuple(Key(0.2 * i, down if i % 2 else up, wrist_n) for i in range(5))


def _wave() -> tuple[Key, ...]:
    def at(lat: float, tilt: float) -> ArmKey:
        return ArmKey("shoulder_d", (0.2 + lat, -0.5, 0.15), fingers=(tilt, -1.0, 0.0),
                      palm=(0.0, 0.0, 1.0), shape="open", pole=(1.0, 1.0, 0.0))  # fmt: skip

    keys = [Key(0.0, at(0.0, 0.0))]
    for i in range(6):
        side = 1.0 if i % 2 == 0 else -1.0
        keys.append(Key(0.1 + 0.2 * i, at(0.11 * side, 0.4 * side)))
    keys.append(Key(1.3, at(0.0, 0.0)))
    return tuple(keys)


def _raise_hand() -> tuple[Key, ...]:
    up = ArmKey("shoulder_d", (0.12, -0.9, 0.1), fingers=(0.0, -1.0, 0.05), palm=(0.0, 0.0, 1.0),
                pole=(1.0, 0.3, 0.2))  # fmt: skip
    return (Key(0.0, up), Key(0.7, replace(up, offset=(0.14, -0.93, 0.1))))


def _eat() -> tuple[Key, ...]:
    # The hand comes in diagonally from the dominant side, back to the camera, with the fingers
    # bent at the knuckles but straight (not bunched), so they show along their length instead of
    # hiding behind the knuckles (MediaPipe found the bunched hand on ~40% of frames, this ~55%).
    touch = ArmKey("mouth", (0.2, 0.03, 0.22), fingers=(-0.75, -0.65, -0.25), palm=(0.0, 0.2, -1.0),
                   shape="bent", pole=(0.7, 1.0, -0.2))  # fmt: skip
    away = replace(touch, offset=(0.26, 0.15, 0.34))
    return (Key(0.0, touch), Key(0.22, away), Key(0.44, touch), Key(0.66, away))


def _clap() -> tuple[Key, ...]:
    def at(lat: float) -> ArmKey:
        return ArmKey("chest", (lat, 0.12, 0.3), fingers=(0.15, -1.0, 0.3), palm=(-1.0, 0.0, 0.6),
                      pole=(0.5, 1.0, -0.2))  # fmt: skip

    apart, together = at(0.32), at(0.05)
    return (_both(0.0, apart), _both(0.22, together), _both(0.44, apart), _both(0.66, together),
            _both(0.9, apart))  # fmt: skip


def _shrug() -> tuple[Key, ...]:
    start = ArmKey("belly", (0.18, -0.1, 0.13), fingers=(-0.75, -0.2, 0.6), palm=(0.0, -1.0, 0.9),
                   shape="open", pole=(0.5, 1.0, -0.3))  # fmt: skip
    end = ArmKey("belly", (0.72, -0.25, 0.08), fingers=(0.8, -0.3, 0.5), palm=(0.1, -1.0, 0.9),
                 shape="open", pole=(0.6, 1.0, -0.3))  # fmt: skip
    return (_both(0.0, start), _both(0.5, end), _both(0.8, end))


def _hug() -> tuple[Key, ...]:
    d = ArmKey("chest", (-0.18, -0.05, 0.14), fingers=(-0.6, -1.0, 0.0), palm=(0.0, 0.0, -1.0),
               pole=(0.3, 1.0, 0.3))  # fmt: skip
    n = ArmKey("chest", (0.2, -0.02, 0.04), fingers=(0.6, -1.0, 0.0), palm=(0.0, 0.0, -1.0),
               pole=(-0.3, 1.0, 0.3))  # fmt: skip
    tight_d = replace(d, offset=(-0.22, -0.07, 0.12))
    tight_n = replace(n, offset=(0.24, -0.04, 0.03))
    return (Key(0.0, d, n), Key(0.3, tight_d, tight_n), Key(0.6, d, n))


def _swipe() -> tuple[Key, ...]:
    start = ArmKey("chest", (-0.25, 0.15, 0.25), fingers=(-0.7, 0.1, 0.7), palm=(0.0, 1.0, -0.6),
                   pole=(0.5, 1.0, -0.2))  # fmt: skip
    end = ArmKey("chest", (0.85, 0.1, 0.15), fingers=(0.6, 0.1, 0.7), palm=(0.0, 1.0, -0.6),
                 pole=(0.6, 1.0, -0.2))  # fmt: skip
    return (Key(0.0, start), Key(0.15, start), Key(0.65, end))


def _stop() -> tuple[Key, ...]:
    start = ArmKey("chest", (0.3, 0.0, 0.1), fingers=(0.0, -1.0, 0.0), palm=(0.0, 0.0, 1.0),
                   pole=(0.5, 1.0, -0.2))  # fmt: skip
    end = ArmKey("chest", (0.4, -0.45, 0.6), fingers=(0.0, -1.0, 0.25), palm=(0.0, 0.2, 1.0),
                 pole=(0.6, 1.0, -0.1))  # fmt: skip
    return (Key(0.0, start), Key(0.1, start), Key(0.5, end))


def _hungry() -> tuple[Key, ...]:
    start = ArmKey("chest", (0.22, -0.15, 0.1), fingers=(-1.0, 0.1, 0.0), palm=(0.0, 0.0, -1.0),
                   shape="c", pole=(0.5, 1.0, -0.2))  # fmt: skip
    end = replace(start, offset=(0.22, 0.45, 0.12))
    return (Key(0.0, start), Key(0.1, start), Key(0.7, end))


VOCABULARY: tuple[SignClass, ...] = (
    SignClass("hello", "Hello (salute)",
              "Flat hand at the side of the forehead, then moved outwards and forwards.",
              "Touch the edge of your flat hand to your forehead like a salute, then move it out "
              "and away from your head.", 1, _hello()),
    SignClass("thank_you", "Thank you",
              "Fingertips of a flat hand at the chin, then the hand moves forwards and down, "
              "palm up.",
              "Put the fingertips of your flat hand on your chin and move the hand forwards and "
              "down towards the camera.", 1, _thank_you()),
    SignClass("please", "Please (circle on the chest)",
              "Flat hand on the chest, moved in two circles.",
              "Lay your flat hand on your chest and rub two circles.", 1, _please()),
    SignClass("push", "Push (both hands)",
              "Both hands up in front of the shoulders, palms out, pushed forwards together.",
              "Raise both hands to shoulder height, palms to the camera, and push them forwards.",
              2, _push()),
    SignClass("time", "Time (tap the wrist)",
              "Non-dominant forearm across the body, hand flat; the dominant index finger taps its "
              "wrist twice.",
              "Hold one forearm across your waist and tap its wrist twice with the index finger "
              "of your other hand.", 2, _time()),
    SignClass("wave", "Wave",
              "Open hand raised beside the head, waving side to side three times.",
              "Raise your open hand next to your head and wave it side to side.", 1, _wave()),
    SignClass("raise_hand", "Raise hand",
              "Flat hand raised high above the shoulder and held.",
              "Raise one hand above your head, as if asking a question, and hold it.", 1,
              _raise_hand()),
    SignClass("eat", "Eat",
              "Fingertips of a bent hand tapped to the mouth twice, the hand coming in from the side.",
              "Bend your fingers at the knuckles and tap the fingertips against your mouth twice, "
              "as if putting food in it.", 1, _eat()),
    SignClass("clap", "Clap",
              "Both flat hands in front of the chest clap together twice.",
              "Clap your hands twice in front of your chest.", 2, _clap()),
    SignClass("what", "What (shrug)",
              "Both open hands, palms up, move from the belly out to the sides.",
              "Hold both hands palms up in front of your belly and move them apart, out to the "
              "sides.", 2, _shrug()),
    SignClass("love", "Love (crossed arms)",
              "Both forearms crossed over the chest, hands on the opposite shoulders, hugging.",
              "Cross your forearms over your chest and lay each hand on the opposite shoulder, "
              "as in a hug.", 2, _hug()),
    SignClass("swipe", "Swipe",
              "Flat hand, palm down, sweeps across the body from the other side outwards.",
              "Hold your flat hand palm down in front of your chest on the opposite side and "
              "sweep it across and out to your side.", 1, _swipe()),
    SignClass("stop", "Stop (one hand)",
              "Flat hand from the chest pushed up and forwards, palm to the camera.",
              "Push one flat hand up and forwards, palm towards the camera, like signalling "
              "someone to stop.", 1, _stop()),
    SignClass("hungry", "Hungry",
              "Curved (C) hand, palm towards the body, moves down the chest to the stomach.",
              "Curve your hand like the letter C against your upper chest and slide it down to "
              "your stomach.", 1, _hungry()),
)  # fmt: skip

LABELS: tuple[str, ...] = tuple(c.name for c in VOCABULARY)
_BY_NAME = {c.name: c for c in VOCABULARY}


def get_class(name: str) -> SignClass:
    """The class called `name`; KeyError lists the known labels."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown synthetic class {name!r}; known: {', '.join(LABELS)}") from None


def try_these_table() -> list[dict[str, str]]:
    """Rows for the UI's "try these" table: label, title, how to perform it, hands."""
    return [
        {"label": c.name, "title": c.title, "how_to": c.how_to,
         "hands": "both" if c.hands == 2 else "one"}
        for c in VOCABULARY
    ]  # fmt: skip
