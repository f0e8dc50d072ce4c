"""Classifier speed: detectkit's Classifier vs calling torchvision directly, and the two-stage pipeline.

Rows (same shipped MobileNetV2 ImageNet weights, CPU, one run, medians of ``--repeat`` runs,
detectkit and the reference interleaved so machine noise hits both alike):

* per image: ``Classifier.classify(bgr_array, top_k=5)`` vs torchvision by hand
  (BGR -> RGB tensor, ``MobileNet_V2_Weights.IMAGENET1K_V1.transforms()``, forward, softmax, top-5);
* batched throughput: ``Classifier.classify_many(arrays, batch_size=B)`` vs torchvision by hand
  (preset per image, ``torch.stack``, one forward per batch);
* two-stage pipeline on an image with 20 boxes: ``Pipeline.classify_boxes`` (crops batched) vs
  one forward pass per box (``Classifier.classify`` per crop, and torchvision by hand per crop).

Goal (issue 5): detectkit's overhead over torchvision <= 5 %; the pipeline batches the crops.

Run: ``.venv/bin/python benchmarks/bench_classifier.py [--repeat 7] [--batch 32] [--threads N]``. On a
busy machine ``--threads 1`` gives far steadier figures (OpenMP threads fight other processes).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from _common import ROOT, median_pair


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--boxes", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)

    import skimage.data
    import torch
    import torchvision
    import ultralytics

    from detectkit import Classifier, Detections, Pipeline
    from detectkit.image import load_image
    from detectkit.models.pipeline import crop_boxes

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    clf = Classifier()
    weights = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1
    ref = torchvision.models.mobilenet_v2()
    ref.load_state_dict(torch.load(ROOT / "weights" / "mobilenet_v2-b0353104.pth", weights_only=True))
    ref.eval()
    preset = weights.transforms()

    sk = Path(skimage.data.__file__).parent
    files = [Path(ultralytics.ASSETS) / "bus.jpg", sk / "chelsea.png", sk / "coffee.png", sk / "astronaut.png"]
    arrays = [load_image(p) for p in files]
    bus = arrays[0]

    def tv_tensor(bgr: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(bgr[:, :, ::-1])).permute(2, 0, 1)

    def tv_single(bgr: np.ndarray) -> tuple[list[int], list[float]]:
        with torch.inference_mode():
            probs = ref(preset(tv_tensor(bgr))[None]).softmax(1)[0]
            conf, idx = probs.topk(5)
        return idx.tolist(), conf.tolist()

    def tv_batch(images: list[np.ndarray], batch: int) -> list[list[int]]:
        out: list[list[int]] = []
        for start in range(0, len(images), batch):
            with torch.inference_mode():
                x = torch.stack([preset(tv_tensor(im)) for im in images[start : start + batch]])
                out.extend(ref(x).softmax(1).topk(5).indices.tolist())
        return out

    # sanity: same answers
    assert clf.classify(bus, top_k=5).class_id.tolist() == tv_single(bus)[0]

    rows: list[tuple[str, str, float, str, float]] = []

    # 1. per-image latency
    for name, image in zip(("bus.jpg 810x1080", "astronaut 512x512"), (bus, arrays[3]), strict=True):
        ours, theirs = median_pair(
            lambda image=image: clf.classify(image, top_k=5),
            lambda image=image: tv_single(image),
            args.repeat,
        )
        rows.append((f"classify, 1 image ({name})", "detectkit", ours, "torchvision by hand", theirs))

    # 1b. everything but the network (the part detectkit adds or replaces): load/copy, preset, top-k
    logits = torch.zeros(1, 1000)

    def ours_no_net(image: np.ndarray) -> Any:
        x = torch.stack([clf._to_tensor(load_image(image))])
        return clf._top_k((logits + x.mean()).softmax(1).numpy(), 5)

    def tv_no_net(image: np.ndarray) -> Any:
        x = preset(tv_tensor(image))[None]
        return (logits + x.mean()).softmax(1)[0].topk(5)

    ours, theirs = median_pair(lambda: ours_no_net(bus), lambda: tv_no_net(bus), args.repeat * 3)
    rows.append(("pre/post-processing only (bus.jpg)", "detectkit", ours, "torchvision by hand", theirs))

    # 2. batched throughput
    many = [arrays[i % len(arrays)] for i in range(args.batch * 2)]
    ours, theirs = median_pair(
        lambda: clf.classify_many(many, top_k=5, batch_size=args.batch),
        lambda: tv_batch(many, args.batch),
        max(3, args.repeat // 2),
    )
    rows.append((f"classify_many, {len(many)} images, batch {args.batch}", "detectkit", ours, "torchvision", theirs))

    # 3. two-stage pipeline on an image with N boxes
    rng = np.random.default_rng(0)
    h, w = bus.shape[:2]
    xy = rng.uniform(0, [w * 0.7, h * 0.7], size=(args.boxes, 2))
    wh = rng.uniform(40, 300, size=(args.boxes, 2))
    dets = Detections(
        xyxy=np.hstack([xy, np.minimum(xy + wh, [w, h])]), confidence=np.full(args.boxes, 0.5, np.float32)
    )

    class _Fixed:
        def detect(self, image: Any) -> Detections:
            return dets

    pipe = Pipeline(_Fixed(), clf, padding=0.1, top_k=1, batch_size=32)

    def per_box_detectkit() -> list[int]:
        crops = crop_boxes(bus, dets.xyxy, padding=0.1, fit="pad")
        return [int(clf.classify(c, top_k=1).class_id[0]) for c in crops]

    def per_box_torchvision() -> list[int]:
        crops = crop_boxes(bus, dets.xyxy, padding=0.1, fit="pad")
        return [tv_single(c)[0][0] for c in crops]

    batched = pipe.classify_boxes(bus, dets)
    assert batched.data["crop_class_id"][:, 0].tolist() == per_box_detectkit()
    ours, theirs = median_pair(lambda: pipe.classify_boxes(bus, dets), per_box_detectkit, max(3, args.repeat // 2))
    rows.append((f"pipeline, {args.boxes} boxes", "batched crops", ours, "1 forward per box", theirs))
    _, theirs_tv = median_pair(lambda: None, per_box_torchvision, max(3, args.repeat // 2))
    rows.append((f"pipeline, {args.boxes} boxes", "batched crops", ours, "torchvision per box", theirs_tv))

    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, threads {torch.get_num_threads()}")
    print(f"{'case':<44} {'ours':<14} {'ms':>9} {'peer':<20} {'ms':>9} {'ours/peer':>10}")
    for case, ours_name, t_ours, peer, t_peer in rows:
        print(
            f"{case:<44} {ours_name:<14} {1000 * t_ours:9.2f} {peer:<20} {1000 * t_peer:9.2f} {t_ours / t_peer:10.3f}"
        )
    per_image = rows[3][2] / len(many)
    print(f"classify_many: {1 / per_image:.1f} images/s ({1000 * per_image:.2f} ms/image)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
