"""Start ``detectkit serve`` for a few seconds, send it an image, print the answer, stop it.

    python examples/serve_demo.py [IMAGE]

The server runs on 127.0.0.1 on a free port with the shipped demo detector and the ImageNet
classifier; the script posts IMAGE (default: a picture from the shapes dataset) to
``/v1/detect`` and ``/v1/classify`` and prints what came back. To keep a server running instead:
``detectkit serve`` and open http://127.0.0.1:8000/ in a browser.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    import httpx

    image = Path(argv[0]) if argv else ROOT / "datasets" / "shapes" / "images" / "val" / "val_00000.jpg"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.setdefault("YOLO_OFFLINE", "1")
    env.setdefault("YOLO_CONFIG_DIR", str(ROOT / ".cache" / "ultralytics"))
    server = subprocess.Popen([sys.executable, "-m", "detectkit", "serve", "--port", str(port)], env=env)
    try:
        deadline = time.monotonic() + 180
        while True:  # /health answers at once; /ready once the models are loaded
            try:
                if httpx.get(url + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                print("the server did not start", file=sys.stderr)
                return 1
            time.sleep(0.2)
        data = image.read_bytes()
        det = httpx.post(url + "/v1/detect", files={"file": (image.name, data)}, timeout=60).json()
        print(f"POST {url}/v1/detect  {image.name}: {len(det['xyxy'])} objects in {det['timing_ms']['total']:.0f} ms")
        for label, score, box in zip(det["labels"], det["confidence"], det["xyxy"]):
            print(f"  {label:<10} {score:.3f}  [{', '.join(f'{v:.1f}' for v in box)}]")
        cls = httpx.post(url + "/v1/classify", params={"top_k": 3}, files={"file": (image.name, data)}, timeout=60)
        top = cls.json()
        print(
            f"POST {url}/v1/classify: "
            + ", ".join(f"{lab} {c:.2f}" for lab, c in zip(top["labels"], top["confidence"]))
        )
        print(f"GET  {url}/health: {httpx.get(url + '/health').json()['status']}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
