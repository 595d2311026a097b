"""RadImageNet from list files and from a class-folder tree: the 11 tasks, lazy decoding, the val
slice, and one clear line for each bad input."""

from __future__ import annotations

import shutil

import pytest
import torch
from torch.utils.data import DataLoader

from lorkd_kernels.pipeline.data import RADIMAGENET_TASKS, DataError, FileListDataset, load_tasks
from lorkd_kernels.pipeline.data.radimagenet import VAL_EVERY, in_val_slice, read_split
from lorkd_kernels.pipeline.data.radimagenet_tasks import task_ranges
from lorkd_kernels.pipeline.data.transforms import ImageTransform
from tests.pipeline.data.layouts import radimagenet_images, write_list_file

SIZE = 16  # crops of 16 after resizing the shorter side to 18


@pytest.fixture(scope="module")
def rad_root(tmp_path_factory):
    """All 165 classes: 2 train and 1 test image each, in a tree, plus the released lists."""
    root = tmp_path_factory.mktemp("radimagenet")
    entries = radimagenet_images(root, {"train": 2, "test": 1})
    write_list_file(root / "rad_train_shuffled.txt", entries["train"])
    write_list_file(root / "rad_test.txt", entries["test"])
    return root, entries


@pytest.fixture
def lists_only(rad_root, tmp_path):
    """The same images and lists, but the lists under root/label (a copy we may damage)."""
    root, entries = rad_root
    copy = tmp_path / "rad"
    shutil.copytree(root, copy)
    for name in ("rad_train_shuffled.txt", "rad_test.txt"):
        (copy / "label").mkdir(exist_ok=True)
        (copy / name).rename(copy / "label" / name)
    return copy, entries


def _expected(entries, split):
    pairs = entries["test" if split == "test" else "train"]
    if split != "test":
        pairs = [(p, y) for p, y in pairs if in_val_slice(p) == (split == "val")]
    return pairs


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_list_files_give_the_eleven_tasks_with_local_labels(rad_root, split):
    root, entries = rad_root
    data = load_tasks("radimagenet", root, None, split, image_size=SIZE)
    assert data.task_names == list(RADIMAGENET_TASKS)
    assert data.num_classes == list(RADIMAGENET_TASKS.values())
    assert data.multilabel == [False] * 11
    expected = _expected(entries, split)
    assert len(data) == len(expected)
    for task, (name, labels) in enumerate(task_ranges().items()):
        subset = data.datasets[task]
        assert isinstance(subset, FileListDataset)
        wanted = [(p, y - labels.start) for p, y in expected if y in labels]
        # list order within a task, global label minus the task's first label
        assert [(subset.path(i), int(subset.labels[i])) for i in range(len(subset))] == [
            (str(root / p), y) for p, y in wanted
        ]
    image, label, task_id = data[len(data) - 1]
    assert image.shape == (3, SIZE, SIZE) and image.dtype == torch.float32
    last = max(t for t in range(11) if len(data.datasets[t]))  # val may leave a task empty
    assert task_id.item() == last and 0 <= label.item() < data.num_classes[last]


def test_val_is_a_fixed_slice_of_train(rad_root):
    root, entries = rad_root
    train = read_split(root, "train")
    val = read_split(root, "val")
    assert not set(train.paths) & set(val.paths)
    assert sorted(train.paths + val.paths) == sorted(p for p, _ in entries["train"])
    # about 1/VAL_EVERY of the train list, whatever its order
    assert 0 < len(val.paths) < 3 * len(entries["train"]) / VAL_EVERY
    shuffled = root.parent / "reordered.txt"
    write_list_file(shuffled, entries["train"][::-1])
    assert sorted(read_split(root, "val", list_files={"train": shuffled}).paths) == sorted(
        val.paths
    )


def test_chosen_tasks_and_lists_given_by_path(lists_only):
    root, entries = lists_only
    data = load_tasks("radimagenet", root, ["rad_task09", "rad_task03"], "test", image_size=SIZE)
    assert data.task_names == ["rad_task09", "rad_task03"] and data.num_classes == [26, 2]
    assert len(data) == 28
    given = load_tasks(
        "radimagenet",
        root,
        ["rad_task03"],
        "test",
        image_size=SIZE,
        list_files={"test": root / "label" / "rad_test.txt"},
    )
    assert len(given) == 2


def test_class_folder_tree(rad_root, tmp_path):
    root, entries = rad_root
    tree = tmp_path / "tree"
    for split in ("train", "test"):
        shutil.copytree(root / split, tree / split)
    from_tree = load_tasks("radimagenet", tree, None, "test", image_size=SIZE)
    from_lists = load_tasks("radimagenet", root, None, "test", image_size=SIZE)
    for a, b in zip(from_tree.datasets, from_lists.datasets):
        assert sorted(zip(map(a.path, range(len(a))), a.labels.tolist())) == sorted(
            zip(
                [p.replace(str(root), str(tree)) for p in map(b.path, range(len(b)))],
                b.labels.tolist(),
            )
        )
    assert (
        len(load_tasks("radimagenet", tree, None, "val"))
        + len(load_tasks("radimagenet", tree, None, "train"))
        == 330
    )


def test_images_are_decoded_only_when_asked(rad_root, tmp_path, monkeypatch):
    root, _ = rad_root
    from PIL import Image

    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    data = load_tasks("radimagenet", root, None, "test", image_size=SIZE)
    assert opened == []
    data[5]
    assert opened == [data.datasets[0].path(5)]


def test_train_crops_are_reproducible_in_workers(rad_root):
    root, _ = rad_root
    data = load_tasks("radimagenet", root, ["rad_task02"], "train", image_size=SIZE, augment=True)

    def epoch(seed):
        loader = DataLoader(
            data, batch_size=8, num_workers=2, generator=torch.Generator().manual_seed(seed)
        )
        return torch.cat([images for images, _, _ in loader])

    first = epoch(0)
    assert torch.equal(first, epoch(0))
    assert not torch.equal(first, epoch(1))
    # the test split's centre crops draw nothing
    test = load_tasks("radimagenet", root, ["rad_task02"], "test", image_size=SIZE)
    assert torch.equal(test[3][0], test[3][0])


def test_default_crop_is_224(rad_root):
    root, _ = rad_root
    data = load_tasks("radimagenet", root, ["rad_task03"], "test")
    assert data[0][0].shape == (3, 224, 224)


def _lines(path):
    return path.read_text().splitlines()


def test_missing_image_names_the_list_line(lists_only):
    root, entries = lists_only
    path, label = entries["test"][7]
    (root / path).unlink()
    with pytest.raises(DataError) as err:
        load_tasks("radimagenet", root, None, "test")
    assert str(err.value) == (
        f"{root / 'label' / 'rad_test.txt'} line 8: image {path} does not exist under {root}"
    )


def test_image_deleted_after_loading_is_named_when_read(lists_only):
    root, _ = lists_only
    data = load_tasks("radimagenet", root, ["rad_task01"], "test", image_size=SIZE)
    path = data.datasets[0].path(0)
    (root / path).unlink()
    with pytest.raises(DataError, match=rf"^{path}: cannot read the image"):
        data[0]


@pytest.mark.parametrize(
    "line, message",
    [
        ("test/x.png 165", r"line 3: label 165 is outside 0-164"),
        ("test/x.png -1", r"line 3: label -1 is outside 0-164"),
        ("test/x.png", r"line 3: expected 'relative/path label', got 'test/x.png'"),
        ("test/x.png seven", r"line 3: expected 'relative/path label'"),
    ],
)
def test_bad_list_lines(lists_only, line, message):
    root, _ = lists_only
    list_file = root / "label" / "rad_test.txt"
    lines = _lines(list_file)
    list_file.write_text("\n".join(lines[:2] + [line] + lines[2:]) + "\n")
    with pytest.raises(DataError, match=f"^{list_file} {message}"):
        load_tasks("radimagenet", root, None, "test")


def _tree(rad_root, tmp_path):
    root, _ = rad_root
    tree = tmp_path / "tree"
    for split in ("train", "test"):
        shutil.copytree(root / split, tree / split)
    return tree


def test_tree_with_a_missing_class(rad_root, tmp_path):
    tree = _tree(rad_root, tmp_path)
    shutil.rmtree(tree / "test" / "rad_task04" / "class040")
    with pytest.raises(
        DataError,
        match=rf"^{tree / 'test'}: its class folders differ from "
        rf"{tree / 'train'}'s: missing \['rad_task04/class040'\]$",
    ):
        load_tasks("radimagenet", tree, None, "test")


def test_tree_with_an_extra_class(rad_root, tmp_path):
    tree = _tree(rad_root, tmp_path)
    for split in ("train", "test"):
        (tree / split / "rad_task11" / "class165").mkdir()
    with pytest.raises(
        DataError,
        match=rf"^{tree / 'train'}: 166 class folders, expected "
        r"RadImageNet's 165",
    ):
        load_tasks("radimagenet", tree, None, "train")
    shutil.rmtree(tree / "train" / "rad_task11" / "class165")
    with pytest.raises(DataError, match=r"extra \['rad_task11/class165'\]"):
        load_tasks("radimagenet", tree, None, "test")


def test_no_data_and_wrong_arguments(tmp_path, rad_root):
    with pytest.raises(DataError, match=r"no RadImageNet data in .*rad_train_shuffled\.txt"):
        load_tasks("radimagenet", tmp_path, None, "train")
    root, _ = rad_root
    with pytest.raises(DataError, match=r"unknown radimagenet task\(s\) \['ct_chest'\]"):
        load_tasks("radimagenet", root, ["ct_chest"], "test")
    with pytest.raises(DataError, match="size=64 does not apply to radimagenet"):
        load_tasks("radimagenet", root, None, "test", size=64)
    with pytest.raises(DataError, match="list files only apply to the radimagenet source"):
        load_tasks("medmnist", root, None, "test", list_files={"test": "x.txt"})
    with pytest.raises(DataError, match=r"list file .*nowhere\.txt does not exist"):
        load_tasks("radimagenet", root, None, "test", list_files={"test": root / "nowhere.txt"})


def test_an_unreadable_image_is_named_from_a_worker(lists_only):
    root, _ = lists_only
    data = load_tasks("radimagenet", root, ["rad_task03"], "test", image_size=SIZE)
    path = data.datasets[0].path(1)
    (root / path).write_bytes(b"not a png")
    with pytest.raises(DataError) as err:
        list(DataLoader(data, batch_size=2, num_workers=1))
    first = str(err.value).splitlines()[0]
    assert first.startswith(f"{path}: cannot read the image (UnidentifiedImageError")
    assert first.endswith("(in DataLoader worker process 0)")


@pytest.mark.parametrize("escape", ["../outside.png", "/etc/passwd", "a/../../outside.png"])
def test_list_paths_outside_the_data_folder_are_refused(lists_only, escape):
    root, entries = lists_only
    (root.parent / "outside.png").write_bytes((root / entries["test"][3][0]).read_bytes())
    pairs = list(entries["test"])
    pairs[3] = (escape, pairs[3][1])
    write_list_file(root / "label" / "rad_test.txt", pairs)
    with pytest.raises(DataError, match=rf"line 4: image {escape} lies outside the data folder"):
        load_tasks("radimagenet", root, None, "test", image_size=SIZE)


def test_a_file_list_dataset_refuses_paths_outside_its_folder(tmp_path):
    with pytest.raises(DataError, match=r"image 2 of the list, '../x.png', lies outside"):
        FileListDataset(
            tmp_path,
            ["a.png", "../x.png"],
            [0, 0],
            0,
            2,
            ImageTransform(train=False, image_size=SIZE),
        )
