"""Helpers for the server tests: sample images, hostile files made in memory, a real server process."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
SHAPES = sorted((ROOT / "datasets" / "shapes" / "images" / "val").glob("*.jpg"))


def bus_path() -> Path:
    import ultralytics

    return Path(ultralytics.ASSETS) / "bus.jpg"


def wait_ready(client: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/ready").status_code == 200:
            return
        time.sleep(0.05)
    raise TimeoutError("the server did not become ready")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A ``detectkit serve`` subprocess on 127.0.0.1."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "detectkit", "serve", "--port", str(self.port), *args],
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.proc.stderr.read() if self.proc.stderr else ''}")
            try:
                if httpx.get(self.url + "/ready", timeout=2, headers=headers).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("the server did not become ready in 180 s")
            time.sleep(0.2)

    def stop(self) -> str:
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width x height`` pixels but carries one tiny compressed row: a
    decompression bomb as far as the header goes (decoding would allocate width*height*3 bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """A real JPEG whose start-of-frame header is rewritten to claim ``width x height``."""
    i = 2
    while i < len(jpeg):
        marker = jpeg[i + 1]
        length = int.from_bytes(jpeg[i + 2 : i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            sof = bytearray(jpeg)
            sof[i + 5 : i + 7] = height.to_bytes(2, "big")
            sof[i + 7 : i + 9] = width.to_bytes(2, "big")
            return bytes(sof)
        i += 2 + length
    raise ValueError("no SOF marker")
