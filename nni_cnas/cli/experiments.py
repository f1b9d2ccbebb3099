"""``nni-cnas report``, ``ranks``, ``sweep-plot``, ``quality`` and ``quality-table``: tables and figures
of finished searches, and the search-quality protocol."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError
from ..quiet import quiet_libraries
from .common import add_job_options, names, print_table, stop_time


def _ranks_parser(sub) -> None:
    p = sub.add_parser('ranks', help='rank of found architectures under each run\'s policy, per epoch (paper Fig. 4)',
                       description='For differentiable searches (darts, darts-v2, amended-darts, gdas, setn): the '
                                   'rank, under each run\'s policy of every epoch, of the architecture each run found '
                                   '(and of any --arch given). Writes a CSV and draws a PNG.')
    p.add_argument('runs', nargs='+', help='run folders of finished searches')
    p.add_argument('--arch', action='append', default=[], metavar='NAME=ARCH',
                   help='also trace this NB201 arch string under the name NAME (repeatable)')
    p.add_argument('--csv', help='write the ranks to this CSV')
    p.add_argument('--png', help='draw the figure to this PNG')
    p.set_defaults(run=_cmd_ranks)


def _sweep_plot_parser(sub) -> None:
    p = sub.add_parser('sweep-plot', help='accuracy against K of a sweep folder (paper Fig. 5)',
                       description='Mean and std over seeds of the found cells\' NAS-Bench-201 test accuracy (or, '
                                   'without a look-up, their validation accuracy) for each K, the plain strategy '
                                   '(K=0) as a line.')
    p.add_argument('folder', help='sweep folder (nni-cnas sweep --out)')
    p.add_argument('--png', required=True, help='the figure to write')
    p.add_argument('--dataset', default='cifar10', help='benchmark dataset of the look-up (default cifar10)')
    p.set_defaults(run=_cmd_sweep_plot)


def _quality_parsers(sub) -> None:
    p = sub.add_parser('quality', help='the search-quality protocol: plain vs curriculum over seeds, resumable',
                       description='Run every (seed, strategy, curriculum) of a protocol file that is not in the results '
                                   'file yet, appending one JSON line per finished search (look-up test accuracy of the '
                                   'found cell, Kendall tau of the supernet over random cells). Run it again to continue.')
    p.add_argument('protocol', help='protocol YAML file (e.g. benchmarks/quality-cpu.yaml)')
    p.add_argument('--results', required=True, help='JSON-lines results file (appended)')
    p.add_argument('--runs-dir', required=True, help='folder for the run folders of the searches')
    p.add_argument('--strategies', type=names, help='only these of the protocol\'s strategies (comma-separated)')
    p.add_argument('--seeds', help='only these of the protocol\'s seeds (comma-separated)')
    add_job_options(p)
    p.set_defaults(run=_cmd_quality)
    p = sub.add_parser('quality-table', help='table and figure of search-quality results',
                       description='Mean and std over seeds per strategy and curriculum of quality results files.')
    p.add_argument('results', nargs='+', help='JSON-lines results files of nni-cnas quality (one table)')
    p.add_argument('--strategies', type=names, help='only the runs of these strategies (comma-separated)')
    p.add_argument('--md', help='also write the Markdown table to this file')
    p.add_argument('--png', help='draw test accuracy and Kendall tau per strategy to this PNG')
    p.set_defaults(run=_cmd_quality_table)


def _rescore_parsers(sub) -> None:
    from ..run.ranking import CELL_SEED

    second = CELL_SEED + 1
    p = sub.add_parser('rescore', help='score finished searches\' supernets again on other cells',
                       description='Without training: each run folder\'s supernet (its last epoch\'s checkpoint) scores '
                                   'random NAS-Bench-201 cells of --cell-seed, none of the cells the search scored '
                                   'itself, on the same validation images; writes ranking-cells-SEED.csv into the run '
                                   'folder and prints Kendall tau.')
    p.add_argument('runs', nargs='+', help='run folders of finished searches on the nb201 space')
    _rescore_options(p, second)
    p.add_argument('--epoch', type=int, help='the supernet at the end of this 0-based epoch (default: the last; '
                                             'an earlier one needs its checkpoint: search with --keep-checkpoints 0)')
    p.set_defaults(run=_cmd_rescore)
    p = sub.add_parser('quality-rescore', help='a second cell set for a quality protocol\'s results',
                       description='nni-cnas rescore for every finished search of a quality results file: appends each '
                                   'record, its ranking that of the new cells, to --results, so that quality-table and '
                                   'benchmarks/paired.py read it as the first. Run it again to continue.')
    p.add_argument('results_in', metavar='RESULTS', help='JSON-lines results file of nni-cnas quality')
    p.add_argument('--runs-dir', required=True, help='the folder the protocol\'s run folders are in')
    p.add_argument('--results', required=True, help='JSON-lines file of the rescored records (appended)')
    _rescore_options(p, second)
    p.set_defaults(run=_cmd_quality_rescore)


def _rescore_options(p, second: int) -> None:
    p.add_argument('--cell-seed', type=int, default=second,
                   help=f'seed of the cells (default {second}); {second - 1}, the seed of the cells a search '
                        'scores itself, scores those again')
    p.add_argument('--cells', type=int, default=200, help='how many cells (default 200)')
    p.add_argument('--device', default='cpu', help='device that scores them (default cpu)')


def _cmd_rescore(args) -> int:
    from ..run.rescore import rescore_run

    quiet_libraries()
    for folder in args.runs:
        summary = rescore_run(folder, args.cells, args.cell_seed, device=args.device, epoch=args.epoch)
        at = '' if args.epoch is None else f' at epoch {args.epoch}'
        print(f'{folder}{at}: Kendall tau {summary["kendall_tau"]:.4f} over {summary["cells"]} cells of seed '
              f'{args.cell_seed} (top-10 mean true acc. {summary["top10_mean_true_acc"]:.2f}%)')
    return 0


def _cmd_quality_rescore(args) -> int:
    from ..experiments.quality import rescore_results

    quiet_libraries()
    records = rescore_results(Path(args.results_in), Path(args.runs_dir), Path(args.results), args.cells,
                              args.cell_seed, args.device)
    print(f'{len(records)} searches scored on the cells of seed {args.cell_seed}: {args.results}')
    return 0


def _report_parser(sub) -> None:
    p = sub.add_parser('report', help='table and figures of run folders (curves, data-weight histograms)',
                       description='One row per run folder (finished or not); with --png-dir, curves.png (per-epoch '
                                   'accuracies of every run on shared axes: plain dashed, curriculum solid) and '
                                   'weights.png (data-weight histogram per epoch of each curriculum run).')
    p.add_argument('runs', nargs='+', help='run folders of nni-cnas search (or trial)')
    p.add_argument('--md', help='also write the table to this Markdown file')
    p.add_argument('--png-dir', help='write curves.png and weights.png into this folder')
    p.set_defaults(run=_cmd_report)


def _cmd_report(args) -> int:
    from ..experiments.report import format_runs, read_runs

    runs = read_runs(args.runs)
    print_table(format_runs(runs), args.md)
    if args.png_dir:
        from ..experiments.plots import plot_search_curves, plot_weight_histograms

        folder = Path(args.png_dir)
        plot_search_curves(runs, folder / 'curves.png')
        print(f'wrote {folder / "curves.png"}')
        if plot_weight_histograms(runs, folder / 'weights.png'):
            print(f'wrote {folder / "weights.png"}')
        else:
            print('no run recorded data weights (plain runs only): no weights.png')
    return 0


def draw_sweep(folder: str, png: str, dataset: str) -> None:
    from ..experiments.plots import plot_accuracy_against_k
    from ..experiments.sweep import sweep_points, sweep_results

    results = sweep_results(folder)
    if not results:
        raise UserError(f'{folder} has no finished runs yet; run nni-cnas sweep --out {folder}')
    points, metric = sweep_points(results, dataset)
    strategies = sorted({r['strategy'] for r in results})
    summary = plot_accuracy_against_k(points, png, metric, title=f'{"/".join(strategies)} on {results[0]["dataset"]}')
    print(f'{metric}, mean ± std over seeds:')
    for k, (mean, std, runs) in summary.items():
        print(f'  K={k:<3} {mean:6.2f} ± {std:5.2f}  ({runs} runs){"  plain" if k == 0 else ""}')
    print(f'wrote {png}')


def _cmd_sweep_plot(args) -> int:
    draw_sweep(args.folder, args.png, args.dataset)
    return 0


def _cmd_quality(args) -> int:
    from ..experiments.jobs import check_jobs, parse_shard
    from ..experiments.quality import Protocol, format_quality_table, quality_table, run_protocol
    from ..experiments.sweep import parse_int_list

    protocol = Protocol.load(Path(args.protocol)).select(
        args.strategies or None,
        parse_int_list(args.seeds, '--seeds') if args.seeds else None)
    quiet_libraries()
    records = run_protocol(protocol, Path(args.results), Path(args.runs_dir), jobs=check_jobs(getattr(args, 'jobs', 1)),
                           shard=parse_shard(getattr(args, 'shard', None)), stop_at=stop_time(args))
    print(f'\n{len(records)} runs of {args.protocol} in {args.results}')
    print(format_quality_table(quality_table(records)))
    return 0


def _cmd_quality_table(args) -> int:
    from ..experiments.quality import format_quality_table, quality_table, read_results

    records = [record for path in args.results for record in read_results(Path(path))]
    if not records:
        raise UserError(f'{" ".join(args.results)} hold{"s" if len(args.results) == 1 else ""} no results; '
                        'run nni-cnas quality first')
    if args.strategies:
        records = [record for record in records if record['strategy'] in args.strategies]
        if not records:
            raise UserError(f'no runs of {", ".join(args.strategies)} in {" ".join(args.results)}')
    print_table(format_quality_table(quality_table(records)), args.md)
    if args.png:
        from ..experiments.plots import plot_quality

        plot_quality(records, Path(args.png))
        print(f'wrote {args.png}')
    return 0


def _cmd_ranks(args) -> int:
    from ..run.policy_ranks import trace_ranks, write_rank_csv
    from ..run.folder import RunFolder
    from ..spaces.nb201_arch import arch_to_sample

    if not args.csv and not args.png:
        raise UserError('nothing to write: give --csv, --png or both')
    archs, runs = {}, []
    for folder in args.runs:
        run = RunFolder(Path(folder))
        result_path = run.path / 'result.json'
        if not result_path.is_file():
            raise UserError(f'{folder} has no result.json; give folders of finished searches')
        result = json.loads(result_path.read_text(encoding='utf-8'))
        metrics = run.metrics()
        if not any(m.policy for m in metrics):
            raise UserError(f'{folder}: the {result["strategy"]} search recorded no policy; ranks need a differentiable '
                            f'strategy (darts, darts-v2, amended-darts, gdas, setn)')
        name = run.path.name
        archs[f'found by {name}'] = result['sample']
        runs.append((name, metrics))
    for spec in args.arch:
        name, sep, arch = spec.partition('=')
        if not sep or not name:
            raise UserError(f'--arch takes NAME=ARCH, not {spec!r}')
        archs[name] = arch_to_sample(arch)  # a bad string is a one-line UserError
    traces = {name: trace_ranks(metrics, archs) for name, metrics in runs}
    if args.csv:
        write_rank_csv([dict(row, run=name) for name, rows in traces.items() for row in rows], Path(args.csv))
        print(f'wrote {args.csv}')
    if args.png:
        from ..experiments.plots import plot_rank_traces

        plot_rank_traces(traces, Path(args.png))
        print(f'wrote {args.png}')
    for name, rows in traces.items():
        last = max(row['epoch'] for row in rows)
        ranks = ', '.join(f'{row["name"]}: {row["rank"]}' for row in rows if row['epoch'] == last)
        print(f'{name}, last epoch: {ranks}')
    return 0
