"""Readers of the published annotation formats, on small hand-written files in those formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from signdemo.train.datasets import (
    Sample,
    guess_format,
    read_asl_citizen,
    read_class_list,
    read_folder,
    read_labels_csv,
    read_labels_csvs,
    read_nslt,
    read_wlasl,
    segment_positions,
)

# Two glosses in the layout of WLASL_v0.3.json (fields as published, values made up).
WLASL_JSON = [
    {"gloss": "book", "instances": [
        {"bbox": [385, 37, 885, 720], "fps": 25, "frame_end": -1, "frame_start": 1, "instance_id": 0,
         "signer_id": 118, "source": "aslbrick", "split": "train", "url": "http://x/69241.mp4",
         "variation_id": 0, "video_id": "69241"},
        {"bbox": [0, 0, 360, 240], "fps": 25, "frame_end": 120, "frame_start": 41, "instance_id": 1,
         "signer_id": 90, "source": "youtube", "split": "val", "url": "https://youtu.be/x",
         "variation_id": 0, "video_id": "65225"},
    ]},
    {"gloss": "drink", "instances": [
        {"bbox": [0, 0, 1, 1], "fps": 25, "frame_end": -1, "frame_start": 1, "instance_id": 0,
         "signer_id": 113, "source": "signingsavvy", "split": "test", "url": "", "variation_id": 0,
         "video_id": "69302"},
    ]},
    {"gloss": "computer", "instances": [
        {"bbox": [0, 0, 1, 1], "fps": 25, "frame_end": -1, "frame_start": 1, "instance_id": 0,
         "signer_id": 5, "source": "aslu", "split": "train", "url": "", "variation_id": 0, "video_id": "12311"},
    ]},
]  # fmt: skip

NSLT_JSON = {
    "69241": {"subset": "train", "action": [0, 1, 96]},
    "65225": {"subset": "val", "action": [0, 41, 120]},
    "69302": {"subset": "test", "action": [1, 1, 60]},
}

ASL_CITIZEN_HEADER = "Participant ID,Video file,Gloss,ASL-LEX Code\n"


def test_wlasl_json_gives_classes_in_file_order_splits_signers_and_frame_ranges(tmp_path: Path) -> None:
    path = tmp_path / "WLASL_v0.3.json"
    path.write_text(json.dumps(WLASL_JSON))
    index = read_wlasl(path, tmp_path / "videos")
    assert index.labels == ["book", "drink", "computer"]
    by_id = {s.sample_id: s for s in index.samples}
    assert by_id["69241"].label_id == 0 and by_id["69241"].split == "train" and by_id["69241"].signer == "118"
    assert (by_id["69241"].frame_start, by_id["69241"].frame_end) == (0, None)  # 1-based start, -1 = last
    assert (by_id["65225"].frame_start, by_id["65225"].frame_end) == (40, 120)  # frames 41..120 inclusive
    assert by_id["69302"].label == "drink" and by_id["69302"].split == "test"
    assert by_id["69241"].path == tmp_path / "videos" / "69241.mp4"
    assert read_wlasl(path, tmp_path, num_classes=2).labels == ["book", "drink"]
    assert guess_format([path]) == "wlasl"


def test_nslt_split_file_with_class_list_or_wlasl_json(tmp_path: Path) -> None:
    nslt = tmp_path / "nslt_2.json"
    nslt.write_text(json.dumps(NSLT_JSON))
    classes = tmp_path / "wlasl_class_list.txt"
    classes.write_text("0\tbook\n1\tdrink\n2\tcomputer\n")
    assert read_class_list(classes) == ["book", "drink", "computer"]
    index = read_nslt(nslt, tmp_path, class_list=classes)
    assert index.labels == ["book", "drink"]  # K = largest class id + 1
    assert {s.sample_id: (s.label, s.split) for s in index.samples} == {
        "69241": ("book", "train"), "65225": ("book", "val"), "69302": ("drink", "test")}  # fmt: skip
    wlasl = tmp_path / "WLASL_v0.3.json"
    wlasl.write_text(json.dumps(WLASL_JSON))
    with_signers = read_nslt(nslt, tmp_path, wlasl_json=wlasl)
    assert {s.sample_id: s.signer for s in with_signers.samples}["65225"] == "90"
    assert guess_format([nslt]) == "nslt"
    with pytest.raises(ValueError, match="class"):
        read_nslt(nslt, tmp_path)


def test_asl_citizen_csvs_sorted_gloss_ids_and_split_from_file_name(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text(ASL_CITIZEN_HEADER + "P1,111-ZEBRA.mp4,ZEBRA,z_1\nP2,222-APPLE.mp4,APPLE,a_1\n")
    (tmp_path / "val.csv").write_text(ASL_CITIZEN_HEADER + "P3,333-MOTHER.mp4,MOTHER,m_1\n")
    (tmp_path / "test.csv").write_text(ASL_CITIZEN_HEADER + "P4,444-APPLE.mp4,APPLE,a_1\n")
    csvs = [tmp_path / f"{s}.csv" for s in ("train", "val", "test")]
    index = read_asl_citizen(csvs, tmp_path / "videos")
    assert index.labels == ["APPLE", "MOTHER", "ZEBRA"]
    got = {s.path.name: (s.label_id, s.split, s.signer) for s in index.samples}
    assert got == {"111-ZEBRA.mp4": (2, "train", "P1"), "222-APPLE.mp4": (0, "train", "P2"),
                   "333-MOTHER.mp4": (1, "val", "P3"), "444-APPLE.mp4": (0, "test", "P4")}  # fmt: skip
    assert guess_format(csvs) == "asl-citizen"


def test_folder_per_gloss_with_and_without_split_folders(tmp_path: Path) -> None:
    for split in ("train", "test"):
        for gloss in ("hello", "bye"):
            (tmp_path / "split" / split / gloss).mkdir(parents=True)
            (tmp_path / "split" / split / gloss / "a.mp4").write_bytes(b"")
    index = read_folder(tmp_path / "split")
    assert index.labels == ["bye", "hello"] and index.counts() == {"train": 2, "val": 0, "test": 2}
    for gloss in ("hello", "bye"):
        (tmp_path / "flat" / gloss).mkdir(parents=True)
        for i in range(10):
            (tmp_path / "flat" / gloss / f"{i}.mp4").write_bytes(b"")
    flat = read_folder(tmp_path / "flat", val_fraction=0.2, test_fraction=0.2, seed=1)
    assert flat.counts() == {"train": 12, "val": 4, "test": 4}
    assert read_folder(tmp_path / "flat", val_fraction=0.2, test_fraction=0.2, seed=1).samples == flat.samples
    assert guess_format([tmp_path / "flat"]) == "folder"


def test_labels_csv_of_the_synthetic_maker(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text(
        "file,label,signer,split,seed\nclips/a.mp4,wave,s1,train,1\nclips/b.mp4,point,s2,validation,2\n"
        "clips/c.mp4,wave,s3,test,3\n"
    )
    index = read_labels_csv(tmp_path / "labels.csv")
    assert index.labels == ["wave", "point"]
    assert [(s.path, s.label_id, s.split, s.signer) for s in index.samples] == [
        (tmp_path / "clips/a.mp4", 0, "train", "s1"), (tmp_path / "clips/b.mp4", 1, "val", "s2"),
        (tmp_path / "clips/c.mp4", 0, "test", "s3")]  # fmt: skip
    assert guess_format([tmp_path]) == "labels-csv"
    assert index.existing().samples == [] and len(index.existing().missing) == 3


def test_several_labels_csvs_read_as_one_data_set(tmp_path: Path) -> None:
    first, more, other = (tmp_path / n for n in ("first", "more", "other"))
    for folder, text in ((first, "clips/a.mp4,wave,0,s1,train\nclips/b.mp4,point,1,s2,test\n"),
                         (more, "clips/c.mp4,wave,0,s9,train\nclips/d.mp4,point,1,s9,train\n"),
                         (other, "clips/e.mp4,point,0,s3,train\nclips/f.mp4,wave,1,s3,train\n")):  # fmt: skip
        folder.mkdir()
        (folder / "labels.csv").write_text("file,label,label_id,signer,split\n" + text)
    assert guess_format([first, more]) == "labels-csv"
    index = read_labels_csvs([first / "labels.csv", more / "labels.csv"])
    assert index.labels == ["wave", "point"]
    assert [(s.path, s.label_id, s.split) for s in index.samples] == [
        (first / "clips/a.mp4", 0, "train"), (first / "clips/b.mp4", 1, "test"),
        (more / "clips/c.mp4", 0, "train"), (more / "clips/d.mp4", 1, "train")]  # fmt: skip
    assert index.source == "labels files first/labels.csv + more/labels.csv (2 classes)"
    with pytest.raises(ValueError, match="must agree"):  # the same names in another order
        read_labels_csvs([first / "labels.csv", other / "labels.csv"])
    with pytest.raises(ValueError, match="occurs twice"):
        read_labels_csvs([first / "labels.csv", first / "labels.csv"])


def test_segment_positions_trim_raw_videos_but_not_pretrimmed_ones() -> None:
    sample = Sample(Path("v.mp4"), "x", 0, "train", frame_start=40, frame_end=120)
    raw = np.arange(300)  # the whole source video: the range applies
    assert segment_positions(raw, sample, 300).tolist() == list(range(40, 120))
    trimmed = np.arange(80)  # WLASL's preprocessing already cut the segment out: keep it whole
    assert segment_positions(trimmed, sample, 80).tolist() == list(range(80))
    assert segment_positions(trimmed, sample, 80, trim="never").tolist() == list(range(80))
    decimated = np.arange(0, 300, 2)  # source indices of a decimated decode
    assert segment_positions(decimated, sample, 300).tolist() == list(range(20, 60))
    whole = Sample(Path("v.mp4"), "x", 0, "train")
    assert len(segment_positions(raw, whole, 300)) == 300
