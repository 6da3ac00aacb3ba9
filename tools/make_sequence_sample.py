#!/usr/bin/env python3
"""Makes the bundled sequence samples from the JapaneseVowels data that sktime ships.

    pip download sktime==1.2.0 --no-deps -d /tmp/sk      # one 8 MB wheel, nothing installed
    python3 tools/make_sequence_sample.py --wheel /tmp/sk/sktime-1.2.0-py3-none-any.whl

(or, with sktime installed, run it without --wheel). Writes

- data/japanese-vowels/JapaneseVowels_TRAIN.ts and _TEST.ts: byte-for-byte copies of the files
  in the wheel (UEA/UCR .ts format), checked against the SHA-256 sums below;
- data/japanese-vowels-csv/speaker-K/case-NNN.csv: the first 2 training utterances of each of
  the 9 speakers (18 files), one row per frame, header lpc1..lpc12, values copied as text from
  the .ts file so both paths load identical floats. NNN is the case's 0-based index in _TRAIN.ts.

Only the standard library is used; the output is the same on every run.
"""

import argparse
import hashlib
import os
import pathlib
import zipfile

NAME = "JapaneseVowels"
# SHA-256 of the files in sktime 1.2.0 (sktime/datasets/data/JapaneseVowels/).
SHA256 = {
    "TRAIN": "68a430eabd919cc77f40b1f5f3bc0dcafacc1486bca9260785aeb7d262cc78cd",
    "TEST": "b3d41d6a0ca3bcad3afb9ca7d4365382aa51341e2e58bae2a574babdda5b9462",
}
CASES_PER_SPEAKER_IN_CSV = 2


def read_sources(wheel):
    """The raw bytes of the TRAIN and TEST files, from the wheel or the installed package."""
    out = {}
    if wheel:
        with zipfile.ZipFile(wheel) as z:
            for split in SHA256:
                out[split] = z.read(f"sktime/datasets/data/{NAME}/{NAME}_{split}.ts")
    else:
        import sktime  # noqa: F401  (only to find the data folder)
        folder = pathlib.Path(sktime.__file__).parent / "datasets" / "data" / NAME
        for split in SHA256:
            out[split] = (folder / f"{NAME}_{split}.ts").read_bytes()
    for split, data in out.items():
        digest = hashlib.sha256(data).hexdigest()
        if digest != SHA256[split]:
            raise SystemExit(f"{NAME}_{split}.ts: SHA-256 {digest}, expected {SHA256[split]} "
                             "(another sktime version? check the data, then update SHA256)")
    return out


def cases(text):
    """(dimensions as lists of value strings, label) for each case after @data."""
    result, in_data = [], False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            in_data = line.lower() == "@data"
            continue
        *dims, label = line.split(":")
        result.append(([d.split(",") for d in dims], label))
    return result


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", help="path to a downloaded sktime wheel (else use installed sktime)")
    parser.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent.parent / "data"))
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    sources = read_sources(args.wheel)

    for split, data in sources.items():
        write(out / "japanese-vowels" / f"{NAME}_{split}.ts", data)

    train = cases(sources["TRAIN"].decode("utf-8"))
    assert len(train) == 270, len(train)
    csv_folder = out / "japanese-vowels-csv"
    taken = {}
    for index, (dims, label) in enumerate(train):
        if taken.get(label, 0) >= CASES_PER_SPEAKER_IN_CSV:
            continue
        taken[label] = taken.get(label, 0) + 1
        assert len(dims) == 12 and all(len(d) == len(dims[0]) for d in dims)
        rows = [",".join(f"lpc{k + 1}" for k in range(12))]
        rows += [",".join(d[step] for d in dims) for step in range(len(dims[0]))]
        write(csv_folder / f"speaker-{label}" / f"case-{index:03d}.csv", ("\n".join(rows) + "\n").encode())

    total = sum(f.stat().st_size for f in out.glob("japanese-vowels*/**/*") if f.is_file())
    print(f"wrote {out}/japanese-vowels (270 + 370 cases) and {csv_folder} "
          f"({sum(taken.values())} files); {total} bytes in all")


if __name__ == "__main__":
    main()
