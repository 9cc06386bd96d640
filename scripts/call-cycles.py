#!/usr/bin/python3
"""call-cycles.py: the file-level call graph of compiled objects and its cycles (docs/architecture.md, "Layers").

Reads `nm` of each object file: the global symbols it defines and the ones it leaves undefined. File A uses
file B when A leaves undefined a symbol B defines (a call, or a reference to B's data). Prints every strongly
connected component of more than one file that contains a file in one of the scopes, with the edges inside it,
and exits 1 if there is one (0 if there is none, 2 on bad input).

  call-cycles.py [--nm NM] --objects PREFIX OBJECTS [--objects PREFIX OBJECTS ...] [--scope DIR ...]

OBJECTS is a ;-separated list (what $<TARGET_OBJECTS:t> expands to in add_test); a directory in it stands for
every .o below it (build/default/core/CMakeFiles/vmsim_core.dir). A file is named PREFIX plus
its object's path below CMakeFiles/<target>.dir/ without the trailing .o (core/ + vcpu.c.o -> core/vcpu.c).
Every listed object is in the graph, so a cycle that leaves a scope and comes back is found; --scope
(default: everything) picks which cycles are reported.
"""
import argparse
import collections
import glob
import os
import subprocess
import sys

# nm -P types of a global definition (text, data, bss, read-only, small data, common, weak, unique, ifunc)
DEFINED = set("TDBRGSCVWui")
UNDEFINED = set("Uvw")


def source_name(prefix, obj):
    rel = obj.split(".dir/", 1)[1] if ".dir/" in obj else obj.rsplit("/", 1)[-1]
    return prefix + (rel[:-2] if rel.endswith(".o") else rel)


def read_symbols(nm, objects):
    """{object: (defined, undefined)} from one nm run over all objects (-A: each line starts with its file)."""
    out = subprocess.run([nm, "-P", "-A"] + objects, capture_output=True, text=True)
    if out.returncode != 0:
        print("call-cycles: %s -P -A failed: %s" % (nm, out.stderr.strip()), file=sys.stderr)
        sys.exit(2)
    symbols = {obj: (set(), set()) for obj in objects}
    for line in out.stdout.splitlines():
        obj, _, rest = line.partition(": ")
        fields = rest.split()
        if obj not in symbols or len(fields) < 2:
            continue
        if fields[1] in DEFINED:
            symbols[obj][0].add(fields[0])
        elif fields[1] in UNDEFINED:
            symbols[obj][1].add(fields[0])
    return symbols


def expand(objects):
    """The ;-separated entries of OBJECTS; a directory stands for every .o below it."""
    for entry in filter(None, objects.split(";")):
        if os.path.isdir(entry):
            yield from sorted(glob.glob(os.path.join(entry, "**", "*.o"), recursive=True))
        else:
            yield entry


def build_graph(nm, groups):
    named = [(source_name(prefix, obj), obj) for prefix, objects in groups for obj in expand(objects)]
    symbols = read_symbols(nm, [obj for _, obj in named])
    owner, uses = {}, {}
    for name, obj in named:
        defined, undefined = symbols[obj]
        for sym in defined:
            owner[sym] = name
        uses[name] = undefined
    graph = collections.OrderedDict((name, set()) for name in sorted(uses))
    for name, undefined in uses.items():
        graph[name] = {owner[s] for s in undefined if s in owner and owner[s] != name}
    return graph


def components(graph):
    """Tarjan's strongly connected components, iterative (no recursion limit on a large graph)."""
    index, low, on_stack, stack, result = {}, {}, set(), [], []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for succ in edges:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        comp.append(member)
                        if member == node:
                            break
                    result.append(sorted(comp))
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nm", default="nm")
    ap.add_argument("--objects", nargs=2, action="append", required=True, metavar=("PREFIX", "OBJECTS"))
    ap.add_argument("--scope", action="append", default=[])
    args = ap.parse_args()
    graph = build_graph(args.nm, args.objects)
    in_scope = [n for n in graph if not args.scope or any(n.startswith(s) for s in args.scope)]
    if not in_scope:
        print("call-cycles: no object file in scope %s" % " ".join(args.scope))
        return 2
    cycles = [c for c in components(graph) if len(c) > 1 and any(n in in_scope for n in c)]
    cycles.sort(key=lambda c: (-len(c), c))
    for comp in cycles:
        print("cycle of %d files: %s" % (len(comp), " ".join(comp)))
        for name in comp:
            print("    %s -> %s" % (name, " ".join(sorted(graph[name] & set(comp)))))
    scope = " ".join(args.scope) or "all files"
    print("%s: %d files, %d call cycles between files" % (scope, len(in_scope), len(cycles)))
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
