#!/usr/bin/env python3
"""Checks every #include in src/ against the module table of docs/architecture.md.

The table's rows read "| `module` | dep, dep (comment) |"; a module may include
its own headers and those of the modules its row names ("-": none; "anything":
no check). Prints each violation as FILE:LINE and exits 1 when there is one.
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
doc = (root / "docs" / "architecture.md").read_text()
modules = sorted(p.name for p in (root / "src").iterdir() if p.is_dir())

allowed = {}
for line in doc.splitlines():
    m = re.match(r"^\|\s*`([a-z_]+)/?`\s*\|\s*(.*?)\s*\|\s*$", line)
    if not m or m.group(1) not in modules:
        continue
    deps = m.group(2)
    if "anything" in deps:
        allowed[m.group(1)] = None
        continue
    deps = re.sub(r"\(.*?\)", "", deps)  # comments in parentheses
    allowed[m.group(1)] = {d for d in re.findall(r"[a-z_]+", deps) if d in modules}

missing = [m for m in modules if m not in allowed]
if missing:
    print("docs/architecture.md has no row for module(s): " + ", ".join(missing))
    sys.exit(1)

bad = 0
for module in modules:
    if allowed[module] is None:
        continue
    ok = allowed[module] | {module}
    for path in sorted((root / "src" / module).rglob("*")):
        if path.suffix not in (".h", ".cpp", ".inc"):
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = re.match(r'\s*#\s*include\s+"([a-z_]+)/', line)
            if m and m.group(1) in modules and m.group(1) not in ok:
                print(f"{path.relative_to(root)}:{n}: {module}/ may not include {m.group(1)}/ "
                      f"(docs/architecture.md allows: {', '.join(sorted(allowed[module])) or 'nothing'})")
                bad += 1
if bad:
    sys.exit(1)
print(f"layering: {len(modules)} modules, every include allowed")
