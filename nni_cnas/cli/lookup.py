"""``nni-cnas lookup``: the NAS-Bench-201 accuracies of a cell."""

from __future__ import annotations

import json
import sys


def _lookup_parser(sub) -> None:
    p = sub.add_parser('lookup', help='NAS-Bench-201 accuracies of a cell',
                       description='Print the NAS-Bench-201 accuracies (200 epochs) of an architecture string.')
    p.add_argument('arch', help="arch string, e.g. '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
                                "nor_conv_3x3~1|skip_connect~2|'")
    p.add_argument('--nb201-table', help='accuracy table CSV, or .csv.xz (default $NNI_CNAS_NB201_TABLE, else the table that ships with nni_cnas)')
    p.add_argument('--nats-bench', help='official NATS-Bench topology file/folder')
    p.add_argument('--json', action='store_true', help='print JSON')
    p.set_defaults(run=_cmd_lookup)


def print_lookup(result: dict, stream, indent: str = '') -> None:
    print(f'{indent}NAS-Bench-201 #{result["index"]} ({result["source"]})', file=stream)
    for dataset in ('cifar10', 'cifar100', 'imagenet16-120'):
        accuracy = result[dataset]
        print(f'{indent}  {dataset:<15} test {accuracy["test"]:6.2f}%   valid {accuracy["valid"]:6.2f}%', file=stream)


def _cmd_lookup(args) -> int:
    from ..benchmarks.nb201 import open_benchmark

    benchmark = open_benchmark(args.nb201_table, args.nats_bench, required=True)
    result = benchmark.lookup(args.arch)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(result['arch'])
        print_lookup(result, sys.stdout)
    return 0
