#!/usr/bin/env python3
"""Checks that levee's rule plugins are components that import nothing.

Usage: python3 check_components.py FILE.wasm...

For each file: it must be a WebAssembly *component* (not a core module); the core module
inside it must import nothing at all, so the plugin's code cannot call out of its sandbox;
the only component-level import allowed is the instance `levee:policy/types@...`, which the
WIT world imports implicitly because `rules` uses its types and which has no functions (a
host's linker needs no definition for it); no `wasi:` name may appear; and it must export
levee:policy/rules. Components nested inside (wit-component wraps exports in one) import
the exported types from their parent, which is not an import of the plugin. Prints one line
per file and exits non-zero on the first file that fails.
"""

import sys

COMPONENT_PREAMBLE = b"\0asm\x0d\x00\x01\x00"
CORE_MODULE_PREAMBLE = b"\0asm\x01\x00\x00\x00"
SECTION_CORE_MODULE = 1
SECTION_COMPONENT_IMPORT = 10
SECTION_CORE_IMPORT = 2
RULES_EXPORT = b"levee:policy/rules@0.2.0"
TYPES_ONLY_IMPORT_PREFIX = "levee:policy/types@"
EXTERN_INSTANCE = 0x05


def read_leb_u32(data, offset):
    """Returns (value, next offset) of an unsigned LEB128 number at `offset`."""
    value, shift = 0, 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, offset
        shift += 7


def sections(data, preamble):
    """Yields (section id, payload bytes) of a component or core module binary."""
    if not data.startswith(preamble):
        raise ValueError("unexpected preamble %r" % data[:8])
    offset = len(preamble)
    while offset < len(data):
        section_id = data[offset]
        size, offset = read_leb_u32(data, offset + 1)
        yield section_id, data[offset : offset + size]
        offset += size


def core_module_import_count(module):
    for section_id, payload in sections(module, CORE_MODULE_PREAMBLE):
        if section_id == SECTION_CORE_IMPORT:
            return read_leb_u32(payload, 0)[0]
    return 0


def read_name(data, offset):
    length, offset = read_leb_u32(data, offset)
    return data[offset : offset + length].decode(), offset + length


def skip_extern_desc(data, offset):
    """Returns the offset after an externdesc starting at `offset` (sorts wit-component emits)."""
    sort = data[offset]
    offset += 1
    if sort == 0x00:  # core module: 0x11 typeidx
        return read_leb_u32(data, offset + 1)[1]
    if sort in (0x01, 0x04, 0x05):  # func, component, instance: typeidx
        return read_leb_u32(data, offset)[1]
    if sort == 0x03:  # type: eq typeidx | sub resource
        return read_leb_u32(data, offset + 1)[1] if data[offset] == 0x00 else offset + 1
    raise ValueError("unexpected import kind 0x%02x" % sort)


def component_imports(payload):
    """Yields (name, extern sort) of each entry of a component import section."""
    count, offset = read_leb_u32(payload, 0)
    for _ in range(count):
        has_version_suffix = payload[offset] == 0x01
        name, offset = read_name(payload, offset + 1)
        if has_version_suffix:
            _, offset = read_name(payload, offset)
        sort = payload[offset]
        offset = skip_extern_desc(payload, offset)
        yield name, sort


def import_problems(component):
    """Lists what the top-level component imports beyond the types-only interface, and any
    import of the core modules inside it."""
    problems = []
    for section_id, payload in sections(component, COMPONENT_PREAMBLE):
        if section_id == SECTION_COMPONENT_IMPORT:
            for name, sort in component_imports(payload):
                types_only = sort == EXTERN_INSTANCE and name.startswith(TYPES_ONLY_IMPORT_PREFIX)
                if not types_only:
                    problems.append("imports `%s`" % name)
        elif section_id == SECTION_CORE_MODULE:
            count = core_module_import_count(payload)
            if count:
                problems.append("a core module with %d import(s)" % count)
    return problems


def check(path):
    with open(path, "rb") as file:
        data = file.read()
    if not data.startswith(COMPONENT_PREAMBLE):
        return "not a component (preamble %r)" % data[:8]
    problems = import_problems(data)
    if b"wasi:" in data:
        problems.append("mentions a wasi: name")
    if RULES_EXPORT not in data:
        problems.append("does not mention %s" % RULES_EXPORT.decode())
    return "; ".join(problems)


def main(paths):
    if not paths:
        print(__doc__.strip())
        return 2
    for path in paths:
        problem = check(path)
        if problem:
            print("FAIL %s: %s" % (path, problem))
            return 1
        with open(path, "rb") as file:
            size = len(file.read())
        print("ok   %s: component, imports no functions, %d bytes" % (path, size))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
