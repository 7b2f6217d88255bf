#!/usr/bin/env python3
"""Writes a C++ source holding the web page's files (web/) as byte arrays.

usage: embed_assets.py OUT.cpp FILE...

Each FILE is served at "/<basename>" (index.html also at "/"); its content
type comes from its extension. The output defines
chunkserve::server::WebAssets() (src/server/web_assets.h).
"""
import os
import sys

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def main():
    out_path, files = sys.argv[1], sys.argv[2:]
    lines = ['#include "server/web_assets.h"', "", "namespace chunkserve::server {", "namespace {", ""]
    entries = []
    for i, path in enumerate(files):
        name = os.path.basename(path)
        ext = os.path.splitext(name)[1]
        if ext not in TYPES:
            sys.exit(f"embed_assets.py: no content type for {path}")
        data = open(path, "rb").read()
        body = ",".join(str(b) for b in data)
        lines.append(f"const unsigned char kAsset{i}[] = {{{body}}};")
        entries.append(f'    {{"/{name}", "{TYPES[ext]}", kAsset{i}, {len(data)}}},')
    lines += ["", "}  // namespace", "", "std::span<const WebAsset> WebAssets() {",
              "  static const WebAsset kAssets[] = {"] + entries + [
              "  };", "  return kAssets;", "}", "", "}  // namespace chunkserve::server", ""]
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines))
    os.replace(tmp, out_path)


if __name__ == "__main__":
    main()
