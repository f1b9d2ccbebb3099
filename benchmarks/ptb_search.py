"""A CPU-sized language-model search on Penn Treebank, plain against curriculum.

For each strategy, curriculum (``none``, ``epoch``) and seed: one search of DARTS' recurrent cell
on a fixed budget (``--sequences`` training sequences of 35 tokens, ``--epochs`` epochs, hidden
size ``--hidden``), then the found cell

1. under the supernet's final weights: its validation perplexity over ``--selection-size``
   validation sequences (zero initial state, as the search sees them; the search's ``val_ppl``), and
2. retrained from scratch on a fixed budget (``--retrain-tokens`` training tokens, one epoch,
   the same hidden size): validation and test perplexity of the whole streams (state carried).

Results are appended as JSON lines to ``--results`` (one per search; finished ones are skipped, so
the command resumes); ``--table`` renders the Markdown table from them.

    python benchmarks/ptb_search.py --results benchmarks/results/ptb-cpu.jsonl --runs-dir runs/ptb-cpu
    python benchmarks/ptb_search.py --results benchmarks/results/ptb-cpu.jsonl --table benchmarks/results/ptb-cpu.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run_one(args, strategy: str, curriculum: str, seed: int) -> dict:
    from nni_cnas.retrain.rnn import RecurrentRetrainConfig, run_recurrent_retrain
    from nni_cnas.run.config import SearchConfig
    from nni_cnas.run.search import run_search
    from nni_cnas.spaces.genotype_reader import read_genotype

    name = f'{strategy}-{curriculum}-s{seed}'
    out = Path(args.runs_dir) / name
    extra = dict(controller_steps=args.controller_steps, controller_aggregate=10) if strategy == 'enas' else {}
    started = time.time()
    result = run_search(SearchConfig(
        space='rnn-darts', strategy=strategy, curriculum=curriculum, dataset='ptb', data_dir=args.data_dir,
        subset=args.sequences, hidden=args.hidden, dropout_scale=args.dropout_scale, batch_size=64, epochs=args.epochs,
        seed=seed,
        num_candidates=20, selection_size=args.selection_size, out=str(out), overwrite=True, tensorboard=False,
        progress_bar=False, **extra))
    search_minutes = (time.time() - started) / 60
    retrained = run_recurrent_retrain(RecurrentRetrainConfig(
        data_dir=args.data_dir, subset=args.retrain_tokens, epochs=1, hidden=args.hidden, seed=seed,
        out=str(out) + '-retrain', overwrite=True), read_genotype(str(out)))
    return {'name': name, 'strategy': strategy, 'curriculum': curriculum, 'seed': seed, 'genotype': result['arch'],
            'supernet_val_ppl': result['val_ppl'],
            'retrain_val_ppl': retrained['val_ppl'], 'retrain_test_ppl': retrained['test_ppl'],
            'search_minutes': round(search_minutes, 2),
            'budget': {'sequences': args.sequences, 'epochs': args.epochs, 'hidden': args.hidden,
                       'dropout_scale': args.dropout_scale,
                       'selection_size': args.selection_size,
                       'retrain_tokens': args.retrain_tokens}}


def table(rows) -> str:
    def mean_std(values):
        return f'{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}' if len(values) > 1 else f'{values[0]:.1f}'

    lines = ['| strategy | curriculum | seeds | found cell, supernet weights: valid ppl | retrained: valid ppl | '
             'retrained: test ppl | minutes per search |', '|---|---|---|---|---|---|---|']
    groups = {}
    for row in rows:
        groups.setdefault((row['strategy'], row['curriculum']), []).append(row)
    for (strategy, curriculum), group in groups.items():
        lines.append(f'| {strategy} | {curriculum} | {len(group)} | '
                     f'{mean_std([r["supernet_val_ppl"] for r in group])} | '
                     f'{mean_std([r["retrain_val_ppl"] for r in group])} | '
                     f'{mean_std([r["retrain_test_ppl"] for r in group])} | '
                     f'{statistics.mean(r["search_minutes"] for r in group):.1f} |')
    return '\n'.join(lines) + '\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--results', required=True)
    parser.add_argument('--runs-dir', default='runs/ptb-cpu')
    parser.add_argument('--table', help='only render the Markdown table of --results to this file')
    parser.add_argument('--data-dir', help='folder with ptb.*.txt (default ../shared/data/ptb)')
    parser.add_argument('--strategies', default='darts,enas')
    parser.add_argument('--seeds', default='0,1')
    parser.add_argument('--sequences', type=int, default=640)
    parser.add_argument('--epochs', type=int, default=4)
    parser.add_argument('--hidden', type=int, default=48)
    parser.add_argument('--selection-size', type=int, default=256)
    parser.add_argument('--dropout-scale', type=float, default=0.0,
                        help='times DARTS\' dropout rates (default 0: at this size and budget the 0.75 rates keep the '
                             'supernet at chance)')
    parser.add_argument('--controller-steps', type=int, default=5)
    parser.add_argument('--retrain-tokens', type=int, default=200_000)
    args = parser.parse_args()

    from nni_cnas.quiet import quiet_libraries
    from nni_cnas.files import append_json_line, read_json_lines

    results = Path(args.results)
    done = read_json_lines(results) if results.exists() else []
    if args.table:
        Path(args.table).write_text(table(done))
        print(table(done))
        return
    quiet_libraries()
    finished = {row['name'] for row in done}
    for strategy in args.strategies.split(','):
        for seed in (int(s) for s in args.seeds.split(',')):
            for curriculum in ('none', 'epoch'):
                if f'{strategy}-{curriculum}-s{seed}' in finished:
                    continue
                row = run_one(args, strategy, curriculum, seed)
                append_json_line(results, row)
                print(row, flush=True)


if __name__ == '__main__':
    main()
