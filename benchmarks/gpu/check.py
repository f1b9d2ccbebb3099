"""The GPU check's steps (run by check.sh), each in its own process with a time limit, each writing
into ``--out``; ``results.json`` says what each step measured or why it did not finish. The sizes
fit about 8 minutes on an H100/H200 (each step's limit: 510 s in all); ``--device cpu --quick`` runs the same steps here, tiny.

1. the machine: torch, the GPU, its compute capability, whether it computes bf16 natively;
2. the tests that take a device (``tests/test_device.py --device cuda``);
3. the curriculum's overhead at C=16 N=5 (CL-RSPS, CL-GDAS, epoch schedule, K=5) with the exact
   estimator's passes in bf16 and in fp32 (benchmarks/overhead.py);
4. the same for CL-GDAS with the supernet and batches channels-last (``--channels-last``: does it pay?);
5. plain throughput in images/s against NNI's own strategies on the same space (benchmarks/dropin_throughput.py).

``--part compiled`` (a second command on the same warm machine) runs one step instead: the mixed
supernet's step eager, compiled and with CUDA graphs, side by side (benchmarks/compiled_step.py),
at the 10k protocol's size and then at the paper's, each written as soon as it is measured.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def machine(device: str) -> dict:
    import torch

    from nni_cnas.resources import native_bf16

    info = {'torch': torch.__version__, 'cuda': torch.version.cuda, 'device': device}
    if device == 'cuda' and torch.cuda.is_available():
        info.update(gpu=torch.cuda.get_device_name(0), capability=list(torch.cuda.get_device_capability(0)),
                    memory_gib=round(torch.cuda.get_device_properties(0).total_memory / 2 ** 30, 1),
                    native_bf16=native_bf16('cuda'))
    return info


def step(name: str, argv: list, limit: float, out: Path) -> dict:
    """Run one step's command; its output in ``out/<name>.log``."""
    started = time.time()
    with open(out / f'{name}.log', 'w') as log:
        try:
            done = subprocess.run(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, timeout=limit)
            status = 'passed' if done.returncode == 0 else f'failed (exit {done.returncode})'
        except subprocess.TimeoutExpired:
            status = f'stopped after {limit:.0f} s'
    record = {'status': status, 'seconds': round(time.time() - started, 1), 'command': ' '.join(map(str, argv))}
    print(f'{name}: {status} in {record["seconds"]} s', flush=True)
    return record


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', type=Path, required=True)
    parser.add_argument('--device', default='cuda')
    parser.add_argument('--quick', action='store_true', help='tiny sizes (a dry run of the steps on the CPU)')
    parser.add_argument('--part', choices=('main', 'compiled'), default='main',
                        help='main: the steps above; compiled: eager against compiled steps (a second command)')
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    size = (['--channels', '4', '--cells', '1', '--samples', '128', '--repeats', '1', '--k', '2'] if args.quick else
            ['--channels', '16', '--cells', '5', '--samples', '2560', '--repeats', '2', '--k', '5'])
    images = ['--images', '64', '--batch-size', '16', '--repeats', '1'] if args.quick else \
        ['--images', '1280', '--batch-size', '64', '--repeats', '2']
    accelerator = 'gpu' if args.device == 'cuda' else 'cpu'
    steps = {
        'tests': ([python, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests/test_device.py', '--device', args.device,
                   f'--junitxml={args.out / "tests.xml"}'], 120),
        **{f'overhead-{precision}': ([python, 'benchmarks/overhead.py', '--strategies', 'rsps,gdas', '--variants', 'epoch',
                                      '--uncertainty-precision', precision, '--skip-memory', *size,
                                      '--json', str(args.out / f'overhead-{precision}.json')], 110)
           for precision in ('bf16', 'fp32')},
        # The same GDAS epochs with the supernet and batches in NHWC: whether --channels-last pays here.
        'overhead-bf16-nhwc': ([python, 'benchmarks/overhead.py', '--strategies', 'gdas', '--variants', 'epoch',
                                '--uncertainty-precision', 'bf16', '--skip-memory', '--channels-last', *size,
                                '--json', str(args.out / 'overhead-bf16-nhwc.json')], 70),
        'dropin': ([python, 'benchmarks/dropin_throughput.py', '--accelerator', accelerator, *images,
                    '--out', str(args.out / 'dropin.json')], 100),
    }
    if args.part == 'compiled':
        sizes = ['--sizes', '4x1x8', '--batch-size', '8', '--repeats', '2'] if args.quick else \
            ['--sizes', '8x1x16,16x5x32', '--batch-size', '64', '--repeats', '8']
        steps = {'compiled': ([python, 'benchmarks/compiled_step.py', '--device', args.device, *sizes,
                               '--json', str(args.out / 'compiled.json')], 540)}
    results = {'machine': machine(args.device), 'steps': {}}
    results_path = args.out / ('results.json' if args.part == 'main' else f'results-{args.part}.json')
    for name, (argv, limit) in steps.items():
        results['steps'][name] = step(name, argv, limit, args.out)
        results_path.write_text(json.dumps(results, indent=1) + '\n')
    for name in steps:
        path = args.out / f'{name}.json'
        if path.is_file():
            results['steps'][name]['result'] = json.loads(path.read_text())
    results_path.write_text(json.dumps(results, indent=1) + '\n')
    return 0 if all(s['status'] == 'passed' for s in results['steps'].values()) else 1


if __name__ == '__main__':
    sys.exit(main())
