"""Datasets: GenericLoader on files written here, RandomGenerator and Digits."""

import wave

import numpy as np
import pytest
import torch
from PIL import Image

from torchstudio.datasets import Digits, GenericLoader, RandomGenerator


def write_png(path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def write_wav(path, samples: np.ndarray, width: int = 2) -> None:
    """samples: CxL int array already in the range of `width` bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = samples.T.astype(f"<i{width}").tobytes()
    with wave.open(str(path), "wb") as sound:
        sound.setnchannels(samples.shape[0])
        sound.setsampwidth(width)
        sound.setframerate(8000)
        sound.writeframes(frames)


def rgb(value: int) -> np.ndarray:
    return np.full((4, 6, 3), value, dtype=np.uint8)


def test_classes_by_folder_with_pngs(tmp_path):
    write_png(tmp_path / "dog" / "a.png", rgb(255))
    write_png(tmp_path / "cat" / "b.png", rgb(0))
    write_png(tmp_path / "cat" / "c.png", np.full((4, 6), 51, dtype=np.uint8))
    (tmp_path / "cat" / "notes.txt").write_text("ignored")
    dataset = GenericLoader(str(tmp_path), mode="folders")
    assert dataset.classes == ["cat", "dog"]
    assert len(dataset) == 3
    image, label = dataset[0]
    assert image.dtype == torch.float32 and image.shape == (3, 4, 6)
    assert label.dtype == torch.int64 and label.ndim == 0 and int(label) == 0
    gray, _ = dataset[1]
    assert gray.shape == (1, 4, 6) and torch.allclose(gray, torch.full_like(gray, 0.2))
    white, dog = dataset[2]
    assert int(dog) == 1 and float(white.min()) == 1.0


def test_classes_by_name_with_wavs(tmp_path):
    stereo = np.array([[0, 16384, -32768], [100, 200, 300]])
    write_wav(tmp_path / "yes_001.wav", stereo)
    write_wav(tmp_path / "no_001.wav", stereo[:1])
    dataset = GenericLoader(str(tmp_path), mode="names", separator="_")
    assert dataset.classes == ["no", "yes"]
    mono, label = dataset[0]
    assert int(label) == 0 and mono.shape == (1, 3)
    sound, label = dataset[1]
    assert int(label) == 1 and sound.dtype == torch.float32 and sound.shape == (2, 3)
    assert sound[0].tolist() == [0.0, 0.5, -1.0]


def test_wav_sample_widths(tmp_path):
    write_wav(tmp_path / "a_32.wav", np.array([[1 << 30, -(1 << 31)]]), width=4)
    path = tmp_path / "b_24.wav"
    with wave.open(str(path), "wb") as sound:  # 24-bit: -2^23 and 2^22 as little-endian triplets
        sound.setnchannels(1)
        sound.setsampwidth(3)
        sound.setframerate(8000)
        sound.writeframes(bytes([0, 0, 0x80, 0, 0, 0x40]))
    path = tmp_path / "c_8.wav"
    with wave.open(str(path), "wb") as sound:  # 8-bit is unsigned around 128
        sound.setnchannels(1)
        sound.setsampwidth(1)
        sound.setframerate(8000)
        sound.writeframes(bytes([0, 128, 192]))
    dataset = GenericLoader(str(tmp_path), mode="names")
    assert dataset[0][0].tolist() == [[0.5, -1.0]]
    assert dataset[1][0].tolist() == [[-1.0, 0.5]]
    assert dataset[2][0].tolist() == [[-1.0, 0.0, 0.5]]


def test_components_by_folder_with_npys_and_transforms(tmp_path):
    for name in ("1", "2"):
        (tmp_path / "inputs").mkdir(exist_ok=True)
        (tmp_path / "targets").mkdir(exist_ok=True)
        np.save(tmp_path / "inputs" / f"{name}.npy", np.full((2, 3), float(name), np.float32))
        np.save(tmp_path / "targets" / f"{name}.npy", np.array(int(name) * 10))
    dataset = GenericLoader(
        str(tmp_path), mode="component_folders", transforms=[lambda t: t * 2, None]
    )
    assert dataset.components == ["inputs", "targets"]
    assert len(dataset) == 2
    inputs, target = dataset[1]
    assert inputs.tolist() == [[4.0] * 3] * 2
    assert int(target) == 20
    reordered = GenericLoader(
        str(tmp_path), mode="component_folders", components=["targets", "inputs"]
    )
    assert int(reordered[0][0]) == 10


def test_components_by_name_with_pngs_and_npz(tmp_path):
    write_png(tmp_path / "1_input.png", rgb(255))
    write_png(tmp_path / "2_input.png", rgb(0))
    np.savez(tmp_path / "1_output.npz", mask=np.ones((4, 6)), weight=np.array(0.5))
    np.savez(tmp_path / "2_output.npz", mask=np.zeros((4, 6)), weight=np.array(1.0))
    dataset = GenericLoader(str(tmp_path), mode="component_names")
    assert dataset.components == ["input", "output"]
    image, mask, weight = dataset[0]
    assert image.shape == (3, 4, 6) and float(image.mean()) == 1.0
    assert mask.shape == (4, 6) and float(weight) == 0.5
    assert float(dataset[1][2]) == 1.0


def test_missing_root_is_named(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere.*does not exist"):
        GenericLoader(str(missing))
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(ValueError, match="file.png.*expected a folder"):
        GenericLoader(str(tmp_path / "file.png"))


def test_no_matching_files_lists_the_extensions(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"\.png, \.jpg.*\.wav.*\.npy.*class sub-folders"):
        GenericLoader(str(tmp_path))
    write_png(tmp_path / "cat" / "a.png", rgb(0))
    with pytest.raises(FileNotFoundError, match=r"extensions \.wav found"):
        GenericLoader(str(tmp_path), extensions=["wav"])
    with pytest.raises(ValueError, match=r"Unsupported extensions \.txt"):
        GenericLoader(str(tmp_path), extensions=[".txt"])
    with pytest.raises(ValueError, match="Unknown mode 'bogus'"):
        GenericLoader(str(tmp_path), mode="bogus")


def test_unreadable_file_is_named(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "broken.png").write_bytes(b"not a png")
    (tmp_path / "cat" / "broken.wav").write_bytes(b"not a wav")
    dataset = GenericLoader(str(tmp_path))
    for index in range(2):
        with pytest.raises(ValueError, match=r"Cannot read '.*broken\.(png|wav)'"):
            dataset[index]


def test_file_names_without_separator_and_unpaired_components_are_named(tmp_path):
    write_png(tmp_path / "cat.png", rgb(0))
    with pytest.raises(ValueError, match=r"cat\.png' has no separator '_'"):
        GenericLoader(str(tmp_path), mode="names")
    write_png(tmp_path / "1_input.png", rgb(0))
    write_png(tmp_path / "1_output.png", rgb(0))
    write_png(tmp_path / "2_input.png", rgb(0))
    (tmp_path / "cat.png").unlink()
    with pytest.raises(ValueError, match=r"2_input\.png' has no matching 'output' component"):
        GenericLoader(str(tmp_path), mode="component_names")
    with pytest.raises(ValueError, match="Components mask not found"):
        GenericLoader(str(tmp_path), mode="component_names", components=["input", "mask"])


def test_random_generator_is_deterministic():
    dataset = RandomGenerator(size=5, shapes=[(3, 4, 4), (2,)], num_classes=3, seed=1)
    again = RandomGenerator(size=5, shapes=[(3, 4, 4), (2,)], num_classes=3, seed=1)
    assert len(dataset) == 5 and dataset.classes == ["0", "1", "2"]
    first = dataset[3]
    assert [t.shape for t in first] == [(3, 4, 4), (2,), ()]
    assert first[0].dtype == torch.float32 and first[2].dtype == torch.int64
    assert 0 <= int(first[2]) < 3
    for a, b in zip(first, again[3], strict=True):
        assert torch.equal(a, b)
    assert torch.equal(dataset[-2][0], first[0])
    assert not torch.equal(dataset[2][0], first[0])
    assert not torch.equal(
        RandomGenerator(size=5, seed=2)[0][0], RandomGenerator(size=5, seed=1)[0][0]
    )
    validation = RandomGenerator(
        size=5, shapes=[(3, 4, 4), (2,)], num_classes=3, seed=1, train=False
    )
    assert not torch.equal(validation[3][0], first[0])
    assert len(RandomGenerator(size=2, num_classes=0)[0]) == 1
    with pytest.raises(IndexError):
        dataset[5]


def test_digits_shapes_and_split():
    train, valid = Digits(train=True), Digits(train=False)
    assert len(train) + len(valid) == 1797
    assert len(train) == round(0.8 * 1797)
    image, label = train[0]
    assert image.shape == (1, 8, 8) and image.dtype == torch.float32
    assert label.shape == () and label.dtype == torch.int64
    assert float(train.images.min()) == 0.0 and float(train.images.max()) == 1.0
    assert train.classes == [str(d) for d in range(10)]
    assert set(train.indices.tolist()).isdisjoint(valid.indices.tolist())
    assert torch.equal(Digits(train=True).images, train.images)  # deterministic
    assert set(train.targets.tolist()) == set(range(10))
    half = Digits(split=0.5, transform=lambda x: x * 2, target_transform=lambda y: y + 1)
    assert len(half) == round(0.5 * 1797)
    assert float(half[0][0].max()) <= 2.0 and 1 <= int(half[0][1]) <= 10
