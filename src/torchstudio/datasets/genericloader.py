"""GenericLoader dataset: a folder of images, sounds or numpy arrays."""

from __future__ import annotations

import os
import wave
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
AUDIO_EXTENSIONS = (".wav",)
ARRAY_EXTENSIONS = (".npy", ".npz")
SUPPORTED_EXTENSIONS = IMAGE_EXTENSIONS + AUDIO_EXTENSIONS + ARRAY_EXTENSIONS
MODES = ("folders", "names", "component_folders", "component_names")


class GenericLoader(Dataset):
    """Load a folder of images (PNG, JPEG...), WAV sounds or numpy arrays (.npy, .npz).

    Modes (`mode`):
        'folders': classification by sub-folder: root/cat/x.png is class 'cat'.
        'names': classification by file name: root/cat_001.png is class 'cat' (the part
            before the first `separator`).
        'component_folders': one sub-folder per component (root/inputs/1.png and
            root/targets/1.png make one sample), files paired by name without extension.
        'component_names': the component is the part after the last `separator`:
            root/1_input.png and root/1_output.png make one sample.
    Classification samples are (data, label) with an int64 0-d label indexing `classes`
    (sorted class names); component samples hold one tensor per component, in the order
    of `components` (default: sorted names). Component modes need every component of
    every sample, else the missing file is named in a ValueError.

    Images become float32 CxHxW tensors in [0, 1] (16-bit images too), WAV sounds float32
    CxL tensors in [-1, 1], .npy files their array, .npz files all their arrays in stored
    order (each a tensor of the sample). Files are read when a sample is requested.

    Args:
        root: the dataset folder.
        mode: one of 'folders', 'names', 'component_folders', 'component_names'.
        separator: separates class or component from the rest of a file name.
        components: component names, in sample order, for the component modes.
        extensions: file extensions to load (default: every supported one).
        transforms: one callable (or None) per tensor of a sample, applied to that tensor.
    """

    def __init__(
        self,
        root: str = "data",
        mode: str = "folders",
        separator: str = "_",
        components: Sequence[str] | None = None,
        extensions: Sequence[str] | None = None,
        transforms: Sequence[Callable | None] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"Unknown mode '{mode}': use one of {', '.join(MODES)}")
        self.root = Path(root)
        if not self.root.exists():
            raise FileNotFoundError(f"Dataset folder '{root}' does not exist")
        if not self.root.is_dir():
            raise ValueError(f"Dataset root '{root}' is a file, expected a folder")
        if mode in ("names", "component_names") and not separator:
            raise ValueError(f"mode '{mode}' needs a non-empty separator")
        self.extensions = self._checked_extensions(extensions)
        self.mode = mode
        self.separator = separator
        self.transforms = list(transforms or [])
        self.classes: list[str] = []
        self.components: list[str] = list(components or [])
        # One entry per sample: its files (one per component) and its label (or None).
        self.samples: list[tuple[list[Path], int | None]] = []
        if mode in ("folders", "names"):
            self._index_classes()
        else:
            self._index_components()

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def targets(self) -> list[int] | None:
        """Every sample's class index without reading its files (None in component modes)."""
        if self.mode not in ("folders", "names"):
            return None
        return [int(label) for _, label in self.samples]  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        paths, label = self.samples[index]
        tensors: list[torch.Tensor] = []
        for path in paths:
            tensors.extend(load_file(path))
        if label is not None:
            tensors.append(torch.tensor(label, dtype=torch.int64))
        for position, transform in enumerate(self.transforms[: len(tensors)]):
            if transform is not None:
                tensors[position] = transform(tensors[position])
        return tuple(tensors)

    @staticmethod
    def _checked_extensions(extensions: Sequence[str] | None) -> tuple[str, ...]:
        if extensions is None:
            return SUPPORTED_EXTENSIONS
        checked = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
        unsupported = [e for e in checked if e not in SUPPORTED_EXTENSIONS]
        if unsupported:
            raise ValueError(
                f"Unsupported extensions {', '.join(unsupported)}; "
                f"supported: {', '.join(SUPPORTED_EXTENSIONS)}"
            )
        return checked

    def _files(self, folder: Path) -> list[Path]:
        """Supported files under folder (sub-folders included), sorted."""
        return sorted(
            path
            for path in folder.rglob("*")
            if path.is_file()
            and path.suffix.lower() in self.extensions
            and not path.name.startswith(".")
        )

    def _no_files_error(self, where: str) -> FileNotFoundError:
        return FileNotFoundError(
            f"No files with extensions {', '.join(self.extensions)} found {where} "
            f"(mode '{self.mode}')"
        )

    def _index_classes(self) -> None:
        labelled: list[tuple[Path, str]] = []
        if self.mode == "folders":
            folders = sorted(p for p in self.root.iterdir() if p.is_dir())
            for folder in folders:
                labelled.extend((path, folder.name) for path in self._files(folder))
            if not labelled:
                raise self._no_files_error(f"in the class sub-folders of '{self.root}'")
        else:
            for path in self._files(self.root):
                if self.separator not in path.stem:
                    raise ValueError(
                        f"File name '{path}' has no separator '{self.separator}' "
                        "to tell its class (expected names like 'cat_001.png')"
                    )
                labelled.append((path, path.stem.split(self.separator, 1)[0]))
            if not labelled:
                raise self._no_files_error(f"in '{self.root}'")
        self.classes = sorted({name for _, name in labelled})
        index_of = {name: index for index, name in enumerate(self.classes)}
        self.samples = [([path], index_of[name]) for path, name in labelled]

    def _index_components(self) -> None:
        # files[component][sample key] = path
        files: dict[str, dict[str, Path]] = {}
        if self.mode == "component_folders":
            for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
                found = self._files(folder)
                if found:
                    files[folder.name] = {_key(path, folder): path for path in found}
            where = f"in the component sub-folders of '{self.root}'"
        else:
            for path in self._files(self.root):
                if self.separator not in path.stem:
                    raise ValueError(
                        f"File name '{path}' has no separator '{self.separator}' "
                        "to tell its component (expected names like '1_input.png')"
                    )
                key, component = path.stem.rsplit(self.separator, 1)
                relative = os.path.relpath(path.parent / key, self.root)
                files.setdefault(component, {})[relative] = path
            where = f"in '{self.root}'"
        if not files:
            raise self._no_files_error(where)
        if not self.components:
            self.components = sorted(files)
        missing = [c for c in self.components if c not in files]
        if missing:
            raise ValueError(
                f"Components {', '.join(missing)} not found {where}; "
                f"found: {', '.join(sorted(files))}"
            )
        keys = sorted(set().union(*(files[c] for c in self.components)))
        for key in keys:
            for component in self.components:
                if key not in files[component]:
                    other = next(files[c][key] for c in self.components if key in files[c])
                    raise ValueError(
                        f"'{other}' has no matching '{component}' component "
                        f"(sample '{key}' in {where})"
                    )
            self.samples.append(([files[c][key] for c in self.components], None))


def _key(path: Path, folder: Path) -> str:
    """A file's name within its component folder, without extension, to pair components."""
    return str(path.relative_to(folder).with_suffix(""))


def load_file(path: Path) -> list[torch.Tensor]:
    """The tensors stored in one file; a ValueError names a file that cannot be read."""
    suffix = path.suffix.lower()
    try:
        if suffix in IMAGE_EXTENSIONS:
            return [load_image(path)]
        if suffix in AUDIO_EXTENSIONS:
            return [load_wav(path)]
        if suffix == ".npy":
            return [torch.from_numpy(np.load(path, allow_pickle=False))]
        with np.load(path, allow_pickle=False) as arrays:
            return [torch.from_numpy(arrays[name]) for name in arrays.files]
    except Exception as error:
        raise ValueError(f"Cannot read '{path}': {error}") from error


def load_image(path: Path) -> torch.Tensor:
    """An image file as a float32 CxHxW tensor in [0, 1]."""
    with Image.open(path) as image:
        image.load()
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16-bit grayscale (PNG): scale by the 16-bit range.
            pixels = np.asarray(image, dtype=np.float32) / 65535.0
        elif image.mode == "F":
            pixels = np.asarray(image, dtype=np.float32)
        else:
            if image.mode not in ("L", "RGB", "RGBA"):
                has_alpha = "A" in image.getbands() or "transparency" in image.info
                image = image.convert("L" if image.mode == "1" else "RGBA" if has_alpha else "RGB")
            pixels = np.asarray(image, dtype=np.float32) / 255.0
    pixels = pixels[np.newaxis] if pixels.ndim == 2 else np.moveaxis(pixels, -1, 0)
    return torch.from_numpy(np.ascontiguousarray(pixels))


def load_wav(path: Path) -> torch.Tensor:
    """A PCM WAV file as a float32 CxL tensor in [-1, 1]."""
    with wave.open(str(path), "rb") as sound:
        channels = sound.getnchannels()
        width = sound.getsampwidth()
        frames = sound.readframes(sound.getnframes())
    raw = np.frombuffer(frames, dtype=np.uint8)
    if width == 1:  # 8-bit WAV is unsigned
        values = (raw.astype(np.float32) - 128) / 128
    elif width == 3:  # 24-bit: sign-extend little-endian triplets into int32
        triplets = raw.reshape(-1, 3).astype(np.int32)
        integers = triplets[:, 0] | (triplets[:, 1] << 8) | (triplets[:, 2] << 16)
        integers = np.where(integers >= 1 << 23, integers - (1 << 24), integers)
        values = integers.astype(np.float32) / (1 << 23)
    elif width in (2, 4):
        integers = np.frombuffer(frames, dtype=f"<i{width}")
        values = (integers / float(1 << (8 * width - 1))).astype(np.float32)
    else:
        raise ValueError(f"unsupported WAV sample width of {width} bytes")
    return torch.from_numpy(np.ascontiguousarray(values.reshape(-1, channels).T))
