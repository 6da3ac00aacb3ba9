"""The test-fixture format read by Tests/TestSupport/Fixture.swift.

File: b"AEFX", uint32 version (1), uint32 tensor count, then per tensor: uint32 name length,
UTF-8 name, uint32 rank, rank x uint32 dims, prod(dims) x float32. All little-endian. The whole
file may be gzip-compressed (the reader detects it), which keeps committed fixtures small.
"""
import gzip
import struct


def write_fixture(path, tensors, compress=True):
    """tensors: iterable of (name, shape tuple, flat list of floats)."""
    parts = [b"AEFX", struct.pack("<II", 1, len(tensors))]
    for name, shape, values in tensors:
        encoded = name.encode("utf-8")
        count = 1
        for d in shape:
            count *= d
        assert len(values) == count, (name, shape, len(values))
        parts.append(struct.pack("<I", len(encoded)) + encoded)
        parts.append(struct.pack("<I", len(shape)) + struct.pack(f"<{len(shape)}I", *shape))
        parts.append(struct.pack(f"<{count}f", *values))
    payload = b"".join(parts)
    if compress:
        with open(path, "wb") as out:
            with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
                gz.write(payload)
    else:
        with open(path, "wb") as out:
            out.write(payload)
