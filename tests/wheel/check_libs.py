"""Every shared library of an installed airtune resolves inside the wheel, torch or the base system.

Run with the Python of the virtualenv the wheel was installed into. For each ELF file under
site-packages/airtune and airtune.libs, `ldd` must resolve every dependency either inside the
wheel, inside the torch wheel (airtune._nn only) or to a library of the manylinux policy (glibc,
libstdc++, libgcc_s, zlib): nothing from the Debian packages airtune is built with (FAISS, OpenBLAS,
LAPACK, oneTBB, simdjson, libgomp, libgfortran). Prints one JSON object: the files and what each resolved to.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

# The system libraries of the manylinux policy (auditwheel's manylinux-policy.json, the same list
# for every manylinux_2_x tag): glibc's parts, libstdc++, libgcc_s, and zlib (which CPython's own
# zlib module links) among them. Everything else must come from the wheel.
POLICY = {
    "ld-linux-x86-64.so.2",
    "libc.so.6",
    "libm.so.6",
    "libmvec.so.1",
    "libdl.so.2",
    "librt.so.1",
    "libpthread.so.0",
    "libanl.so.1",
    "libnsl.so.1",
    "libutil.so.1",
    "libresolv.so.2",
    "libstdc++.so.6",
    "libgcc_s.so.1",
    "libatomic.so.1",
    "libz.so.1",
    "libexpat.so.1",
}
TORCH_LIBS = re.compile(r"^lib(torch\w*|c10\w*|shm|gomp-[0-9a-f]+)\.so")


def main() -> int:
    site = Path(sysconfig.get_paths()["purelib"])
    files = sorted(
        p
        for d in (site / "airtune", site / "airtune.libs")
        for p in d.rglob("*.so*")
        if p.is_file() and p.read_bytes()[:4] == b"\x7fELF"
    )
    bad, report = [], {}
    for f in files:
        out = subprocess.run(["ldd", str(f)], capture_output=True, text=True, check=True).stdout
        deps = {}
        for line in out.splitlines():
            m = re.match(r"\s*(\S+)\s+=>\s+(\S+)", line)
            if m:
                deps[m.group(1)] = m.group(2)
        report[str(f.relative_to(site))] = deps
        for name, where in deps.items():
            inside = where.startswith(str(site / "airtune"))
            torch_ok = f.name.startswith("_nn") and TORCH_LIBS.match(name) is not None
            if torch_ok and (where == "not" or where.startswith(str(site / "torch"))):
                continue  # libtorch: from the user's torch wheel (absent in a venv without torch)
            if not inside and name not in POLICY:
                bad.append(f"{f.relative_to(site)}: {name} => {where}")
    print(json.dumps({"files": len(files), "libs": report}))
    if not files or not any(f.name.startswith("_core") for f in files):
        print("no airtune._core found under", site, file=sys.stderr)
        return 1
    if bad:
        print("resolved outside the wheel:\n  " + "\n  ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
