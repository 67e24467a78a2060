"""A minimal writer of OLE compound files (MS-CFB version 3), enough to build test .msg files.

Streams smaller than 4096 bytes go to the mini stream, larger ones to regular sectors. Each
storage's children are linked as one right-leaning chain of black nodes in CFB name order, which
readers accept (they do not rebalance).
"""

from __future__ import annotations

import dataclasses
import itertools
import struct

SECTOR = 512
MINI = 64
CUTOFF = 4096
FREE, END, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclasses.dataclass
class _Entry:
    name: str
    kind: int  # 1 storage, 2 stream, 5 root
    data: bytes = b""
    children: list[_Entry] = dataclasses.field(default_factory=list)
    sid: int = 0
    start: int = END
    left: int = NOSTREAM
    right: int = NOSTREAM
    child: int = NOSTREAM


def _pad(data: bytes, size: int) -> bytes:
    return data + b"\x00" * (-len(data) % size)


def _chain(start: int, count: int) -> list[int]:
    return [start + i + 1 if i < count - 1 else END for i in range(count)]


def _sort_key(entry: _Entry) -> tuple[int, str]:
    return (len(entry.name), entry.name.upper())


def write_cfb(streams: dict[str, bytes]) -> bytes:
    """Build a compound file; keys are paths like ``"stream"`` or ``"storage/stream"``."""
    root = _Entry("Root Entry", 5)
    for path, data in streams.items():
        node = root
        *storages, leaf = path.split("/")
        for name in storages:
            found = next((c for c in node.children if c.name == name), None)
            if found is None:
                found = _Entry(name, 1)
                node.children.append(found)
            node = found
        node.children.append(_Entry(leaf, 2, data))

    entries: list[_Entry] = []

    def number(entry: _Entry) -> None:
        entry.sid = len(entries)
        entries.append(entry)
        ordered = sorted(entry.children, key=_sort_key)
        for kid in ordered:
            number(kid)
        if ordered:
            entry.child = ordered[0].sid
            for first, second in itertools.pairwise(ordered):
                first.right = second.sid

    number(root)

    # Mini stream (small streams) and its FAT.
    mini_data = b""
    mini_fat: list[int] = []
    big: list[_Entry] = []
    for entry in entries:
        if entry.kind != 2:
            continue
        if len(entry.data) >= CUTOFF:
            big.append(entry)
            continue
        count = max(1, -(-len(entry.data) // MINI)) if entry.data else 0
        if count:
            entry.start = len(mini_fat)
            mini_fat += _chain(entry.start, count)
            mini_data += _pad(entry.data, MINI)
    directory = b""
    mini_fat_bytes = _pad(b"".join(struct.pack("<I", v) for v in mini_fat), SECTOR)
    mini_stream = _pad(mini_data, SECTOR)

    # Sector plan: FAT | directory | mini FAT | mini stream | big streams.
    dir_sectors = -(-len(entries) * 128 // SECTOR)
    mini_fat_sectors = len(mini_fat_bytes) // SECTOR
    mini_stream_sectors = len(mini_stream) // SECTOR
    big_sectors = [-(-len(e.data) // SECTOR) for e in big]
    body = dir_sectors + mini_fat_sectors + mini_stream_sectors + sum(big_sectors)
    fat_sectors = 1
    while fat_sectors * (SECTOR // 4) < fat_sectors + body:
        fat_sectors += 1

    fat = [FATSECT] * fat_sectors
    dir_start = len(fat)
    fat += _chain(dir_start, dir_sectors)
    mini_fat_start = len(fat) if mini_fat_sectors else END
    fat += _chain(len(fat), mini_fat_sectors)
    root.start = len(fat) if mini_stream_sectors else END
    root.data = b"\x00" * len(mini_data)  # only its size is used
    fat += _chain(len(fat), mini_stream_sectors)
    for entry, count in zip(big, big_sectors, strict=True):
        entry.start = len(fat)
        fat += _chain(len(fat), count)
    fat += [FREE] * (fat_sectors * (SECTOR // 4) - len(fat))

    for entry in entries:
        encoded = entry.name.encode("utf-16-le") + b"\x00\x00"
        directory += struct.pack(
            "<64sHBBIII16sIQQIQ",
            encoded,
            len(encoded),
            entry.kind,
            1,
            entry.left,
            entry.right,
            entry.child,
            b"\x00" * 16,
            0,
            0,
            0,
            entry.start if (entry.kind != 1) else 0,
            len(entry.data) if entry.kind != 1 else 0,
        )
    directory = _pad(directory, SECTOR)

    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        MAGIC,
        b"\x00" * 16,
        0x3E,
        3,
        0xFFFE,
        9,
        6,
        b"\x00" * 6,
        0,
        fat_sectors,
        dir_start,
        0,
        CUTOFF,
        mini_fat_start,
        mini_fat_sectors,
        END,
        0,
    )
    difat = [*range(fat_sectors), *([FREE] * (109 - fat_sectors))]
    header += b"".join(struct.pack("<I", v) for v in difat)
    parts = [
        header,
        b"".join(struct.pack("<I", v) for v in fat),
        directory,
        mini_fat_bytes if mini_fat_sectors else b"",
        mini_stream,
        *(_pad(e.data, SECTOR) for e in big),
    ]
    return b"".join(parts)
