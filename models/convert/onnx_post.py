"""Give a tf2onnx graph clean input/output names, a symbolic batch dimension,
provenance metadata and canonical internal names, then check it.

tf2onnx numbers the nodes and constants it creates from a process-wide
counter (`const_fold_opt__830`), merges equal constants under an arbitrary
one of their names, and emits independent nodes in varying order. The graph
itself (ops, connections, weights) is stable, so a topological sort with
name-based tie-breaks, constants renamed by first use and sorted
initializers make the output byte-for-byte reproducible.

usage: onnx_post.py SRC DST MAPPING_JSON [METADATA_JSON]
"""
import json
import re
import sys

import onnx


def rename(model, mapping):
    graph = model.graph
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in mapping:
                node.input[i] = mapping[name]
        for i, name in enumerate(node.output):
            if name in mapping:
                node.output[i] = mapping[name]
    for v in list(graph.input) + list(graph.output) + list(graph.value_info):
        if v.name in mapping:
            v.name = mapping[v.name]


GENERATED = re.compile(r"__\d+")


def stable_sort(graph):
    """Topological order with ties broken by names stripped of counters, so
    the order no longer depends on how tf2onnx happened to emit nodes."""
    import heapq

    nodes = list(graph.node)
    consts = {t.name for t in graph.initializer}
    produced_by = {out: i for i, n in enumerate(nodes) for out in n.output}
    deps = [{produced_by[x] for x in n.input if x in produced_by} for n in nodes]
    users = [[] for _ in nodes]
    for i, d in enumerate(deps):
        for j in d:
            users[j].append(i)

    def key(i):
        n = nodes[i]
        return (
            GENERATED.sub("__", n.output[0] if n.output else ""),
            n.op_type,
            tuple("<const>" if x in consts else GENERATED.sub("__", x) for x in n.input),
            i,
        )

    waiting = [len(d) for d in deps]
    ready = [key(i) for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)[-1]
        order.append(nodes[i])
        for u in users[i]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, key(u))
    assert len(order) == len(nodes), "graph has a cycle"
    del graph.node[:]
    graph.node.extend(order)


def canonicalise(model):
    graph = model.graph
    stable_sort(graph)
    mapping = {}

    consts = {t.name for t in graph.initializer}

    def canon(name):
        # Constants are renamed whatever their name: tf2onnx merges equal
        # constants and keeps an arbitrary one of their names.
        if not name or not (name in consts or GENERATED.search(name)):
            return name
        if name not in mapping:
            mapping[name] = f"const_{len(mapping)}" if name in consts else GENERATED.sub("__", name, count=1) + f"g{len(mapping)}"
        return mapping[name]

    for node in graph.node:
        node.name = canon(node.name)
        for i, name in enumerate(node.input):
            node.input[i] = canon(name)
        for i, name in enumerate(node.output):
            node.output[i] = canon(name)
    for v in list(graph.initializer) + list(graph.value_info):
        v.name = canon(v.name)
    inits = sorted(graph.initializer, key=lambda t: t.name)
    del graph.initializer[:]
    graph.initializer.extend(inits)
    vinfo = sorted(graph.value_info, key=lambda v: v.name)
    del graph.value_info[:]
    graph.value_info.extend(vinfo)


def symbolic_batch(model):
    for v in list(model.graph.input) + list(model.graph.output):
        dim = v.type.tensor_type.shape.dim[0]
        if dim.dim_param:
            dim.dim_param = "N"


def main():
    src, dst, mapping = sys.argv[1:4]
    meta = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    model = onnx.load(src)
    rename(model, json.loads(mapping))
    canonicalise(model)
    symbolic_batch(model)
    for key, value in meta.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, dst)
    print("wrote", dst, [i.name for i in model.graph.input], [o.name for o in model.graph.output])


if __name__ == "__main__":
    main()
