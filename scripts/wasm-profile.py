#!/usr/bin/env python3
"""Where the bytes of a wasm module go: code size per crate and the generic functions with the
most instantiations (monomorphization), read from the module's code and name sections.

  scripts/wasm-profile.py target/wasm32-unknown-unknown/wasm-release/frontend.wasm [--top N]

Run it on the linked module before wasm-bindgen and wasm-opt: they keep the code but drop the
names. Sizes are of function bodies before `wasm-opt -Oz`, so they rank, not predict, what
reaches the browser.
"""

import argparse
import re
import sys
from collections import defaultdict

ESCAPES = {"$LT$": "<", "$GT$": ">", "$u20$": " ", "$C$": ",", "$RF$": "&", "$BP$": "*",
           "$SP$": "@", "$LP$": "(", "$RP$": ")", "$u7b$": "{", "$u7d$": "}", "$u5b$": "[",
           "$u5d$": "]", "$u27$": "'", "$u3b$": ";", "$u22$": '"', "$u7e$": "~", "$u21$": "!",
           "$u2b$": "+", "$u3d$": "="}


def leb(data, pos):
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def sections(data):
    if data[:4] != b"\0asm":
        sys.exit("not a wasm module")
    pos = 8
    while pos < len(data):
        kind = data[pos]
        size, pos = leb(data, pos + 1)
        yield kind, data[pos:pos + size]
        pos += size


def imported_functions(body):
    count, pos = leb(body, 0)
    functions = 0
    for _ in range(count):
        for _ in range(2):
            length, pos = leb(body, pos)
            pos += length
        kind = body[pos]
        pos += 1
        if kind == 0:
            _, pos = leb(body, pos)
            functions += 1
        elif kind == 1:
            pos += 1
            flags, pos = leb(body, pos)
            _, pos = leb(body, pos)
            if flags & 1:
                _, pos = leb(body, pos)
        elif kind == 2:
            flags, pos = leb(body, pos)
            _, pos = leb(body, pos)
            if flags & 1:
                _, pos = leb(body, pos)
        elif kind == 3:
            pos += 2
        elif kind == 4:
            pos += 1
            _, pos = leb(body, pos)
    return functions


def body_sizes(body):
    count, pos = leb(body, 0)
    sizes = []
    for _ in range(count):
        size, start = leb(body, pos)
        sizes.append(size + (start - pos))
        pos = start + size
    return sizes


def function_names(custom):
    length, pos = leb(custom, 0)
    if custom[pos:pos + length] != b"name":
        return None
    pos += length
    names = {}
    while pos < len(custom):
        kind = custom[pos]
        size, pos = leb(custom, pos + 1)
        end = pos + size
        if kind == 1:
            count, p = leb(custom, pos)
            for _ in range(count):
                index, p = leb(custom, p)
                length, p = leb(custom, p)
                names[index] = custom[p:p + length].decode("utf-8", "replace")
                p += length
        pos = end
    return names


def demangle(symbol):
    """Legacy Rust mangling (_ZN...17h<hash>E) to its path without the hash; others unchanged."""
    if not symbol.startswith("_ZN"):
        return symbol
    pos, parts = 3, []
    while pos < len(symbol) and symbol[pos].isdigit():
        digits = re.match(r"\d+", symbol[pos:]).group()
        pos += len(digits)
        parts.append(symbol[pos:pos + int(digits)])
        pos += int(digits)
    if parts and re.fullmatch(r"h[0-9a-f]{16}", parts[-1]):
        parts.pop()
    text = "::".join(parts)
    for escape, char in ESCAPES.items():
        text = text.replace(escape, char)
    return text.replace("..", "::").lstrip("_")


def crate_of(path):
    # `<T as Trait>::f` and `<T>::f` belong to the crate of T, where the code is written.
    inner = path[1:] if path.startswith("<") else path
    inner = inner.lstrip("&*[(").removeprefix("mut ").removeprefix("dyn ")
    match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", inner)
    return match.group() if match else "?"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wasm")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    data = open(args.wasm, "rb").read()
    imports, sizes, names = 0, [], None
    for kind, body in sections(data):
        if kind == 2:
            imports = imported_functions(body)
        elif kind == 10:
            sizes = body_sizes(body)
        elif kind == 0:
            names = function_names(body) or names
    if names is None:
        sys.exit("the module has no name section (profile it before wasm-bindgen and wasm-opt)")
    total = sum(sizes)
    per_crate, families = defaultdict(int), defaultdict(lambda: [0, 0])
    for i, size in enumerate(sizes):
        path = demangle(names.get(imports + i, f"function {imports + i}"))
        per_crate[crate_of(path)] += size
        family = families[path]
        family[0] += 1
        family[1] += size
    print(f"{len(sizes)} functions, {total:,} bytes of code\n\nBytes by crate:")
    for crate, size in sorted(per_crate.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"  {size:>10,}  {100 * size / total:5.1f} %  {crate}")
    print("\nGeneric functions by the bytes of their instantiations (count, bytes):")
    generic = [(path, n, size) for path, (n, size) in families.items() if n > 1]
    for path, n, size in sorted(generic, key=lambda item: -item[2])[:args.top]:
        print(f"  {n:>5}  {size:>10,}  {path[:150]}")


if __name__ == "__main__":
    main()
