#!/usr/bin/env python3
"""Pull every artifact listed in a refs file with oras-py, one after another.

Usage: oras_pull.py REFS_TSV OUTDIR

REFS_TSV is what `lf-bench-seed` prints (reference, then digests, tab
separated). For each reference this does what `oras pull` does -- GET the
manifest by tag, then stream each blob to a file -- and also fetches the
config blob, so it issues the same requests as `lf-resolve lock`. Plain HTTP
(`insecure=True`): the benchmark registry is on loopback.
"""

import os
import sys

import oras.client


def main() -> int:
    refs_file, outdir = sys.argv[1], sys.argv[2]
    refs = [line.split("\t")[0] for line in open(refs_file) if line.strip()]
    host = refs[0].split("/", 1)[0]
    client = oras.client.OrasClient(hostname=host, insecure=True)
    for n, ref in enumerate(refs):
        target = os.path.join(outdir, f"a{n}")
        manifest = client.get_manifest(ref)
        blobs = [manifest["config"]] + manifest.get("layers", [])
        for blob in blobs:
            digest = blob["digest"]
            client.download_blob(ref, digest, os.path.join(target, digest.replace(":", "-")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
