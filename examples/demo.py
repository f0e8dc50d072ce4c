"""The detectkit demo: build detections, suppress duplicates, print them.

Run with ``make demo``.
"""

from __future__ import annotations

from detectkit import Detections


def main() -> None:
    dets = Detections(
        xyxy=[[10, 10, 110, 110], [14, 12, 112, 108], [200, 40, 260, 120], [205, 45, 258, 118]],
        confidence=[0.92, 0.85, 0.77, 0.60],
        class_id=[0, 0, 1, 1],
        names={0: "cat", 1: "dog"},
    )
    print("before NMS:", dets)
    kept = dets.with_nms(iou_threshold=0.5)
    print("after NMS: ", kept)
    for box in kept:
        print(f"  {box.label:>4}  {box.confidence:.2f}  {[round(v, 1) for v in box.xyxy]}")


if __name__ == "__main__":
    main()
