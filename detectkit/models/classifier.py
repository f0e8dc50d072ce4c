"""Whole-image classification and class-activation localisation.

:class:`Classifier` wraps a torchvision classification network (the default is the shipped
ImageNet-1k MobileNetV2, manifest name ``mobilenet_v2-imagenet``), any torchvision
architecture with a weights file, or an Ultralytics ``-cls`` checkpoint, behind one API:

* :meth:`Classifier.classify` -> :class:`~detectkit.detections.Classification` (top-k),
* :meth:`Classifier.classify_many` -> a list of them, images batched through the network,
* :meth:`Classifier.localize` -> :class:`~detectkit.detections.Detections`, one box per class
  from a Grad-CAM heatmap of the last convolutional block (for a global-average-pool +
  linear head this is exactly the class activation map, CAM).

Pre-processing is exactly torchvision's ``ImageClassification`` preset on a tensor: RGB, resize
the shorter side to 256 (bilinear, antialiased), centre-crop 224, scale to [0, 1], normalise
with the ImageNet mean/std. Ultralytics checkpoints use their own preset (shorter side and
crop at the checkpoint's ``imgsz``, no mean/std).

Weights files are PyTorch pickles: manifest names are verified by sha256 before loading;
plain state dicts load with ``torch.load(weights_only=True)``; an Ultralytics checkpoint
executes code when unpickled, so load only checkpoints you trust.

>>> from pathlib import Path
>>> import skimage.data
>>> coffee = Path(skimage.data.__file__).parent / "coffee.png"
>>> clf = Classifier()
>>> clf.classify(coffee, top_k=2)
Classification(espresso: 0.992, consomme: 0.005)
>>> box = clf.localize(coffee)
>>> box.labels, box.data["heatmap"].shape
(['espresso'], (1, 256, 384))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from detectkit._checks import check_fraction
from detectkit.detections import Classification, Detections
from detectkit.errors import InvalidInputError, ModelLoadError
from detectkit.models.gradcam import find_cam_layer, grad_cam, largest_component_box, resize_heatmap

if TYPE_CHECKING:
    import torch

__all__ = ["DEFAULT_CLASSIFIER", "IMAGENET_MEAN", "IMAGENET_STD", "Classifier", "Preprocess", "resize_heatmap"]

DEFAULT_CLASSIFIER = "mobilenet_v2-imagenet"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net")


@dataclass(frozen=True)
class Preprocess:
    """Classification pre-processing (torchvision's ``ImageClassification`` preset).

    Attributes:
        resize_size: the shorter image side is resized to this many pixels (bilinear, antialiased).
        crop_size: side of the square centre crop fed to the network.
        mean: per-channel RGB mean subtracted after scaling to [0, 1].
        std: per-channel RGB standard deviation divided by.
    """

    resize_size: int = 256
    crop_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        for name in ("resize_size", "crop_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
                raise InvalidInputError(f"{name} must be a positive int, got {value!r}")


def _load_image(image: Any) -> np.ndarray:
    """Any supported image source -> (H, W, 3) uint8 BGR, through ``detectkit.image``."""
    from detectkit.image import load_image

    return load_image(image)


def _check_top_k(top_k: Any) -> int:
    if not isinstance(top_k, (int, np.integer)) or isinstance(top_k, bool) or top_k < 1:
        raise InvalidInputError(f"top_k must be a positive int, got {top_k!r}")
    return int(top_k)


def _check_batch_size(batch_size: Any) -> int:
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


def _torchvision_architectures() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def _imagenet_categories() -> list[str]:
    import torchvision

    return list(torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


def _extract_state_dict(obj: Any) -> dict[str, Any] | None:
    """A plain ``{name: tensor}`` dict from a checkpoint object (possibly wrapped), else ``None``."""
    import torch

    if isinstance(obj, Mapping):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            out = {str(k): v for k, v in obj.items()}
            if all(k.startswith("module.") for k in out):  # DataParallel checkpoints
                out = {k[len("module.") :]: v for k, v in out.items()}
            return out
        for key in _CHECKPOINT_KEYS:
            if key in obj:
                found = _extract_state_dict(obj[key])
                if found is not None:
                    return found
    return None


def _head_classes(state: Mapping[str, Any]) -> int | None:
    """Number of outputs of the last 2-D ``*.weight`` in the state dict (the classifier head)."""
    last = None
    for key, value in state.items():
        if key.endswith(".weight") and getattr(value, "ndim", 0) == 2:
            last = int(value.shape[0])
    return last


def _read_state_dict(path: Path) -> dict[str, Any] | None:
    """The state dict in ``path`` (safe ``weights_only`` load), or ``None`` if it holds pickled objects."""
    import torch

    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return None
    return _extract_state_dict(raw)


def _build_torchvision(
    architecture: str, weights_path: Path, state: dict[str, Any] | None = None
) -> tuple[torch.nn.Module, int]:
    """Build ``architecture`` and load ``weights_path`` into it; returns (model, num_classes)."""
    import torch
    import torchvision

    known = _torchvision_architectures()
    if architecture not in known:
        raise ModelLoadError(
            f"unknown torchvision classification architecture {architecture!r} (weights file {weights_path}); "
            f"known architectures: {', '.join(known)}"
        )
    if state is None:
        try:
            raw = torch.load(weights_path, map_location="cpu", weights_only=True)
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise ModelLoadError(
                f"cannot read weights file {weights_path} for architecture {architecture!r}: "
                f"{type(exc).__name__}: {first}"
            ) from None
        state = _extract_state_dict(raw)
        if state is None:
            raise ModelLoadError(
                f"weights file {weights_path} does not hold a state dict for architecture {architecture!r} "
                f"(got {type(raw).__name__})"
            )
    num_classes = _head_classes(state) or 1000
    try:
        # build on the meta device (no random initialisation to throw away), then adopt the tensors
        with torch.device("meta"):
            model = torchvision.models.get_model(architecture, weights=None, num_classes=num_classes)
        model.load_state_dict(state, strict=True, assign=True)
        if any(t.is_meta for t in (*model.parameters(), *model.buffers())):  # non-persistent buffers
            model = torchvision.models.get_model(architecture, weights=None, num_classes=num_classes)
            model.load_state_dict(state, strict=True)
    except Exception as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = "; ".join(lines[:3])
        if len(detail) > 400:
            detail = detail[:400] + "..."
        raise ModelLoadError(
            f"weights file {weights_path} does not fit architecture {architecture!r}: {detail}"
        ) from None
    return model, num_classes


def _ultralytics_logits(model: Any) -> torch.nn.Module:
    """Wrap an Ultralytics ``ClassificationModel`` so calling it returns logits like a torchvision net."""
    import torch

    class UltralyticsLogits(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.inner(x)
            if isinstance(out, (tuple, list)):  # eval mode: (probabilities, logits)
                return out[1] if len(out) > 1 else out[0].log()  # type: ignore[no-any-return]
            return out  # type: ignore[no-any-return]

    return UltralyticsLogits(model)


def _load_ultralytics(path: Path) -> tuple[torch.nn.Module, dict[int, str], int]:
    """Load an Ultralytics ``-cls`` checkpoint; returns (logits module, names, imgsz)."""
    from detectkit.models import prepare_ultralytics

    if path.suffix.lower() != ".pt":  # Ultralytics guesses a task for any other file without reading it
        raise ModelLoadError(
            f"cannot load {path} as a classifier: not a torchvision state dict (.pth) nor an Ultralytics "
            f"-cls checkpoint (.pt), got {path.suffix or 'a file without extension'!r}"
        )
    try:
        yolo = prepare_ultralytics().YOLO(str(path))
    except Exception as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise ModelLoadError(
            f"cannot load {path} as an Ultralytics checkpoint: {type(exc).__name__}: {lines[0] if lines else ''}"
        ) from None
    if yolo.task != "classify":
        raise ModelLoadError(
            f"{path} is an Ultralytics {yolo.task!r} checkpoint, not a classifier (-cls); use Detector for it"
        )
    inner: Any = yolo.model
    if not hasattr(inner, "forward"):
        raise ModelLoadError(f"{path} is not a PyTorch Ultralytics checkpoint")
    inner = inner.float()
    args = getattr(inner, "args", {}) or {}
    imgsz = args.get("imgsz", 224) if isinstance(args, Mapping) else 224
    if isinstance(imgsz, (list, tuple)):
        imgsz = imgsz[0]
    names = {int(k): str(v) for k, v in dict(getattr(inner, "names", {}) or {}).items()}
    return _ultralytics_logits(inner), names, int(imgsz)


def _load_exported(path: Path) -> tuple[torch.nn.Module, dict[int, str] | None, Preprocess]:
    """An ``.onnx`` (onnxruntime) or OpenVINO ``.xml`` classifier written by ``detectkit export``."""
    from detectkit.models.exported import load_exported_classifier

    net, names, pre = load_exported_classifier(path)
    return net, names, Preprocess(**pre)


class Classifier:
    """A whole-image classifier with top-k prediction and class-activation localisation.

    Args:
        model: what to load.

            * ``None``: the default ImageNet-1k MobileNetV2 shipped in ``weights/``
              (manifest name ``"mobilenet_v2-imagenet"``).
            * a manifest name from ``weights/manifest.json`` (sha256-verified).
            * a torchvision classification architecture name (``"resnet50"``,
              ``"efficientnet_b0"``, ...) together with ``weights=`` a state-dict file.
            * a path to a torchvision state dict named like torchvision's files
              (``resnet50-0676ba61.pth``: the architecture is taken from the name), or to an
              Ultralytics classification checkpoint (``yolov8n-cls.pt``).
            * a ``torch.nn.Module`` returning logits ``(B, num_classes)``.
            * an ``.onnx`` or OpenVINO ``.xml`` file written by ``detectkit export`` (runs on
              onnxruntime / OpenVINO; names and pre-processing come from the file).
        weights: a state-dict file for the architecture named by ``model``. The number of
            classes is read from the file's last linear layer.
        names: class names (list or id -> name) overriding the ones from the manifest,
            checkpoint or ImageNet (used when the head has 1000 outputs).
        device: torch device string, ``"cpu"`` by default.
        preprocess: override the pre-processing (:class:`Preprocess`).

    Raises:
        ModelLoadError: unknown name or architecture, missing file, sha256 mismatch, or a
            weights file that does not fit the architecture (the message names both).

    Attributes:
        names: class id -> label (read-only mapping).
        architecture: e.g. ``"mobilenet_v2"``, ``"ultralytics"`` or ``"custom"``.
        framework: ``"torchvision"``, ``"ultralytics"`` or ``"torch"``.
        preprocess: the :class:`Preprocess` used.
    """

    def __init__(
        self,
        model: str | Path | torch.nn.Module | None = None,
        *,
        weights: str | Path | None = None,
        names: Mapping[int, str] | Sequence[str] | None = None,
        device: str = "cpu",
        preprocess: Preprocess | None = None,
    ) -> None:
        import torch

        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise InvalidInputError(
                f"device must be a torch device string like 'cpu' or 'cuda:0', got {device!r}: {exc}"
            ) from None
        if preprocess is not None and not isinstance(preprocess, Preprocess):
            raise InvalidInputError(f"preprocess must be a Preprocess, got {type(preprocess).__name__}")
        self.source: str = "module"
        self.weights_path: Path | None = None
        default_pre = Preprocess()
        loaded_names: dict[int, str] | None = None
        if isinstance(model, torch.nn.Module):
            if weights is not None:
                raise InvalidInputError("weights must be None when model is a torch.nn.Module (load it yourself)")
            net: torch.nn.Module = model
            self.architecture, self.framework = type(model).__name__, "torch"
        else:
            if model is None:
                from detectkit.models.weights import default_model

                model = default_model("classify") or DEFAULT_CLASSIFIER
            if not isinstance(model, (str, Path)):
                raise InvalidInputError(
                    f"model must be None, a name, a path or a torch.nn.Module, got {type(model).__name__}"
                )
            net, loaded_names, default_pre = self._load(str(model), weights)
        try:
            self.model = net.to(self.device).eval()
        except (RuntimeError, AssertionError) as exc:  # e.g. "cuda" on a machine without a GPU
            raise InvalidInputError(f"device {device!r} is not available here: {exc}") from None
        for param in self.model.parameters():
            param.requires_grad_(False)
        self.preprocess = preprocess or default_pre
        self.num_classes = self._probe_num_classes()
        if names is not None:
            loaded_names = dict(Detections.empty(names=names).names)
        elif loaded_names is None and self.num_classes == 1000:
            loaded_names = dict(enumerate(_imagenet_categories()))
        self.names: Mapping[int, str] = dict(loaded_names or {})
        self._cam_layer: torch.nn.Module | None = None

    # ------------------------------------------------------------------ loading
    def _load(
        self, model: str, weights: str | Path | None
    ) -> tuple[torch.nn.Module, dict[int, str] | None, Preprocess]:
        if weights is not None:
            path = Path(weights)
            if not path.is_file():
                raise ModelLoadError(f"weights file {str(weights)!r} for architecture {model!r} does not exist")
            net, _ = _build_torchvision(model, path)
            self.architecture, self.framework, self.source, self.weights_path = model, "torchvision", str(path), path
            return net, None, Preprocess()
        from detectkit.models import weights as weights_mod

        entry = weights_mod.load_manifest().get(model)
        if entry is None:
            from detectkit.models.user_models import user_entry

            entry = user_entry(model)[0]
        if entry is not None:
            resolved = weights_mod.resolve(model)  # verifies the sha256 before anything loads the file
            if resolved.task not in (None, "classify"):
                raise ModelLoadError(f"model {model!r} is a {resolved.task!r} model, not a classifier; use Detector")
            if resolved.path is None:  # pragma: no cover - manifest names always resolve to a verified file
                raise ModelLoadError(f"model {model!r} has no weights file")
            self.source, self.weights_path = model, resolved.path
            classes = dict(resolved.classes) if resolved.classes is not None else None
            if resolved.path.suffix.lower() in (".onnx", ".xml"):
                net, names, pre = _load_exported(resolved.path)
                self.architecture, self.framework = str(resolved.architecture or "exported"), "exported"
                return net, classes or names, pre
            if resolved.framework == "ultralytics":
                net, names, imgsz = _load_ultralytics(resolved.path)
                size = resolved.imgsz or imgsz
                self.architecture, self.framework = resolved.architecture or "ultralytics", "ultralytics"
                return net, classes or names, Preprocess(size, size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
            if resolved.framework not in (None, "torchvision") or not resolved.architecture:
                raise ModelLoadError(
                    f"model {model!r}: a classifier needs framework 'torchvision' with an architecture or "
                    f"'ultralytics', got framework={resolved.framework!r} architecture={resolved.architecture!r}"
                )
            net, _ = _build_torchvision(resolved.architecture, resolved.path)
            self.architecture, self.framework = resolved.architecture, "torchvision"
            crop = resolved.imgsz or 224
            resize = entry.get("resize_size")
            resize_size = int(resize) if isinstance(resize, (int, float)) else round(crop * 256 / 224)
            return net, classes, Preprocess(resize_size, crop)
        path = Path(model)
        if path.is_file() and path.suffix.lower() in (".onnx", ".xml"):  # detectkit export files
            self.source, self.weights_path = str(path), path
            net, names, pre = _load_exported(path)
            self.architecture, self.framework = "exported", "exported"
            return net, names, pre
        if path.is_file():
            self.source, self.weights_path = str(path), path
            state = _read_state_dict(path)
            if state is not None:
                arch = path.stem.split("-")[0]
                if arch not in _torchvision_architectures():
                    raise ModelLoadError(
                        f"{path} is a plain state dict; name its architecture: "
                        f"Classifier('resnet50', weights={str(path)!r}) (the file name does not start with a known "
                        f"torchvision architecture, got {arch!r})"
                    )
                net, _ = _build_torchvision(arch, path, state)
                self.architecture, self.framework = arch, "torchvision"
                return net, None, Preprocess()
            net, names, imgsz = _load_ultralytics(path)
            self.architecture, self.framework = "ultralytics", "ultralytics"
            return net, names, Preprocess(imgsz, imgsz, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
        if model in _torchvision_architectures():
            raise ModelLoadError(
                f"architecture {model!r} needs a weights file: Classifier({model!r}, weights='file.pth') "
                "(pretrained weights are not downloaded)"
            )
        known = ", ".join(weights_mod.known_models("classify")) or "(none)"
        raise ModelLoadError(
            f"unknown classifier {model!r}: not a file, not a manifest name and not a torchvision architecture; "
            f"known names: {known}; or pass a torchvision architecture "
            "with weights= (e.g. Classifier('resnet50', weights='resnet50.pth')) or an Ultralytics -cls checkpoint"
        )

    def _probe_num_classes(self) -> int:
        import torch

        size = self.preprocess.crop_size
        with torch.inference_mode():
            out = self.model(torch.zeros(1, 3, size, size, device=self.device))
        if out.ndim != 2:
            raise ModelLoadError(f"model must return logits of shape (B, num_classes), got {tuple(out.shape)}")
        return int(out.shape[1])

    def __repr__(self) -> str:
        return (
            f"Classifier({self.source!r}, architecture={self.architecture!r}, classes={self.num_classes}, "
            f"device={str(self.device)!r})"
        )

    # ------------------------------------------------------------------ pre-processing
    def _to_tensor(self, image: np.ndarray, *, crop: bool = True) -> torch.Tensor:
        """BGR uint8 (H, W, 3) -> normalised float (3, h, w), torchvision's preset exactly."""
        import torch
        from torchvision.transforms import functional as tvf

        pre = self.preprocess
        # resizing works per channel, so resize the BGR view (no full-size copy) and swap the
        # channels of the small result: identical to resizing the RGB image
        bgr = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
        x = tvf.resize(bgr, [pre.resize_size], interpolation=tvf.InterpolationMode.BILINEAR, antialias=True)
        if crop:
            x = tvf.center_crop(x, [pre.crop_size, pre.crop_size])
        x = tvf.convert_image_dtype(x.flip(0), torch.float)
        return tvf.normalize(x, mean=list(pre.mean), std=list(pre.std))  # type: ignore[no-any-return]

    def _batches(self, images: Iterable[Any], batch_size: int) -> Iterator[list[np.ndarray]]:
        batch: list[np.ndarray] = []
        for image in images:
            batch.append(_load_image(image))
            if len(batch) == batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def predict_proba(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Class probabilities for already-loaded BGR images, one forward pass.

        Args:
            images: ``(H, W, 3)`` uint8 BGR arrays (sizes may differ).

        Returns:
            float32 ``(len(images), num_classes)`` softmax probabilities.
        """
        import torch

        if not len(images):
            return np.zeros((0, self.num_classes), np.float32)
        batch = torch.stack([self._to_tensor(im) for im in images]).to(self.device)
        with torch.inference_mode():
            probs = self.model(batch).float().softmax(1)
        return np.asarray(probs.cpu().numpy(), dtype=np.float32)

    def _top_k(self, probs: np.ndarray, top_k: int) -> list[Classification]:
        k = min(top_k, probs.shape[1])
        idx = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        out = []
        for row, ids in zip(probs, idx, strict=True):
            ids_list = ids.tolist()
            out.append(
                Classification(
                    class_id=ids,
                    confidence=row[ids],
                    names={i: self.names.get(i, str(i)) for i in ids_list},
                )
            )
        return out

    # ------------------------------------------------------------------ public API
    def classify(self, image: Any, *, top_k: int = 5) -> Classification:
        """Classify one image.

        Args:
            image: a path, bytes, numpy array (BGR, as OpenCV loads) or PIL image.
            top_k: how many classes to return (clipped to the number of classes).

        Returns:
            :class:`Classification` with the ``top_k`` classes by descending probability.
        """
        top_k = _check_top_k(top_k)
        return self._top_k(self.predict_proba([_load_image(image)]), top_k)[0]

    def classify_many(self, images: Iterable[Any], *, top_k: int = 5, batch_size: int = 32) -> list[Classification]:
        """Classify many images, ``batch_size`` at a time through the network.

        Images are loaded lazily batch by batch, so a long iterable never sits in memory.

        Returns:
            One :class:`Classification` per image, in order.
        """
        top_k = _check_top_k(top_k)
        batch_size = _check_batch_size(batch_size)
        if isinstance(images, (str, Path, bytes, np.ndarray)):
            raise InvalidInputError(
                f"images must be an iterable of images (use classify() for one), got {type(images).__name__}"
            )
        out: list[Classification] = []
        for batch in self._batches(images, batch_size):
            out.extend(self._top_k(self.predict_proba(batch), top_k))
        return out

    def localize(
        self,
        image: Any,
        *,
        class_id: int | str | Sequence[int | str] | None = None,
        top_k: int = 1,
        threshold: float = 0.4,
    ) -> Detections:
        """Boxes from class activation maps: one box per requested class.

        The heatmap is Grad-CAM on the last convolutional block (identical to CAM for
        global-average-pool + linear heads), computed on the whole image resized so its
        shorter side is ``preprocess.resize_size`` (no crop, so boxes can reach every
        border). The heatmap is normalised to [0, 1], thresholded at ``threshold``, and
        the largest connected component gives the box. An all-zero map gives the whole image.

        Args:
            image: any image source :meth:`classify` takes.
            class_id: class id(s) or name(s) to localise; ``None`` takes the ``top_k`` classes
                of :meth:`classify`.
            top_k: number of classes when ``class_id`` is ``None``.
            threshold: fraction of the heatmap maximum kept as foreground, in (0, 1].

        Returns:
            :class:`Detections` with one box per class: ``confidence`` is the class
            probability from :meth:`classify`, ``class_id``/``names`` the classes, and
            ``data["heatmap"]`` float32 ``(N, h, w)`` in [0, 1] covering the whole image at the
            network input resolution (e.g. 256 x 341 for a 810 x 1080 photo; use
            :func:`resize_heatmap` to bring one to image size). ``image_size_wh`` is set.

        Raises:
            ModelLoadError: the network has no spatial convolutional feature map.
        """

        top_k = _check_top_k(top_k)
        threshold = check_fraction(threshold, "threshold")
        if threshold == 0.0:
            raise InvalidInputError("threshold must be in (0, 1], got 0.0")
        img = _load_image(image)
        height, width = img.shape[:2]
        probs = self.predict_proba([img])[0]
        classes = self._requested_classes(class_id, probs, top_k)
        layer = self._find_cam_layer()
        x = self._to_tensor(img, crop=False)[None].to(self.device)
        heat = grad_cam(self.model, x, layer, classes)
        boxes = np.array([largest_component_box(h, threshold, (width, height)) for h in heat], dtype=np.float32)
        return Detections(
            xyxy=boxes.reshape(-1, 4),
            confidence=probs[classes],
            class_id=np.array(classes, dtype=np.int64),
            data={"heatmap": heat},
            names={c: self.names.get(c, str(c)) for c in classes},
            image_size_wh=(width, height),
        )

    def _requested_classes(
        self, class_id: int | str | Sequence[int | str] | None, probs: np.ndarray, top_k: int
    ) -> list[int]:
        if class_id is None:
            return np.argsort(-probs, kind="stable")[: min(top_k, self.num_classes)].tolist()  # type: ignore[no-any-return]
        items = [class_id] if isinstance(class_id, (int, str, np.integer)) else list(class_id)
        by_name = {v: k for k, v in self.names.items()}
        out = []
        for item in items:
            if isinstance(item, str):
                if item not in by_name:
                    raise InvalidInputError(f"class_id: unknown class name {item!r}")
                out.append(by_name[item])
            elif isinstance(item, (int, np.integer)) and not isinstance(item, bool) and 0 <= item < self.num_classes:
                out.append(int(item))
            else:
                raise InvalidInputError(
                    f"class_id must be in [0, {self.num_classes - 1}] or a class name, got {item!r}"
                )
        if not out:
            raise InvalidInputError("class_id must name at least one class, got an empty sequence")
        return out

    def _find_cam_layer(self) -> torch.nn.Module:
        """The last top-level block whose output is a spatial (B, C, H, W) map (found once)."""
        if self._cam_layer is None:
            self._cam_layer = find_cam_layer(
                self.model, input_size=self.preprocess.crop_size, device=self.device, architecture=self.architecture
            )
        return self._cam_layer
