"""``nni-cnas``: run Curriculum-NAS searches and look up NAS-Bench-201 cells.

Bad input is reported as one line, ``nni-cnas: error: ...``, with exit code 2 and no traceback; a
non-finite loss exits with 3, a search stopped by SIGTERM or Ctrl+C (after saving a checkpoint)
with 143.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from pathlib import Path
from typing import List, Optional

from .errors import NonFiniteLoss, SearchInterrupted, UserError

EXIT_USAGE, EXIT_NUMERICAL, EXIT_INTERRUPTED = 2, 3, 143


class _Parser(argparse.ArgumentParser):
    """argparse that raises one-line UserErrors instead of printing usage and exiting, and that
    takes no abbreviated options (``--epoch`` is a typo, not ``--epochs``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault('allow_abbrev', False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UserError(f'{message} (see {self.prog} --help)')


def _search_parser(sub) -> None:
    p = sub.add_parser('search', help='run a (curriculum) architecture search', argument_default=argparse.SUPPRESS,
                       description='Search an architecture with a one-shot strategy, with or without the '
                                   'Curriculum-NAS data curriculum. Defaults are NATS-Bench\'s weight-sharing '
                                   'settings (C=16, N=5, 100 epochs, batch 64, SGD 0.025 cosine to 0.001).')
    _add_search_options(p, sweep=False)
    p.set_defaults(run=_cmd_search)


def _sweep_parser(sub) -> None:
    p = sub.add_parser('sweep', help='a search per K and seed (paper Fig. 5), resumable',
                       argument_default=argparse.SUPPRESS,
                       description='Run one search per (K, seed) into <out>/k<K>-s<seed>. Finished runs are skipped '
                                   'and interrupted ones resumed, so the same command continues a sweep. K=0 is the '
                                   'plain strategy. Every search option applies to all runs.')
    p.add_argument('--ks', default='0,1,3,5,7,9,15', help='comma-separated K values (default 0,1,3,5,7,9,15)')
    p.add_argument('--seeds', default='0,1,2', help='comma-separated seeds (default 0,1,2)')
    p.add_argument('--out', required=True, help='sweep folder')
    p.add_argument('--png', help='also draw accuracy against K to this PNG when the sweep is done')
    _add_search_options(p, sweep=True)
    p.set_defaults(run=_cmd_sweep)


def _trial_parser(sub) -> None:
    p = sub.add_parser('trial', help='one search as an NNI trial (the trialCommand of an nnictl experiment)',
                       argument_default=argparse.SUPPRESS,
                       description='Run one search with these options and the NNI tuner\'s parameters over them '
                                   '(names as in a run\'s config.yaml), reporting each epoch as an intermediate '
                                   'result and the found architecture in the final result. The run folder defaults '
                                   'to the trial\'s output folder. Outside nnictl it runs as a plain search.')
    _add_search_options(p, sweep=False, resume=False)
    p.set_defaults(run=_cmd_trial)


def _add_search_options(p, sweep: bool, resume: bool = True) -> None:
    import dataclasses

    from .curriculum import SCHEDULES
    from .run.search import DEVICES, STRATEGY_NAMES, SearchConfig

    defaults = {field.name: field.default for field in dataclasses.fields(SearchConfig)}

    def d(name):
        return f'(default {defaults[name]})'

    # No argparse defaults: only the options given on the command line override --config and the
    # strategy's defaults (SearchConfig).
    g = p.add_argument_group('what to search')
    g.add_argument('--space', help=f'search space: nb201, darts, nasnet (images), rnn-darts, rnn-enas (language '
                                   f'models) {d("space")}')
    g.add_argument('--strategy', help=f'base algorithm: {", ".join(STRATEGY_NAMES)} {d("strategy")}')
    g.add_argument('--curriculum', help=f'data curriculum schedule: {", ".join(SCHEDULES)} {d("curriculum")}')
    if not sweep:
        g.add_argument('--k', type=int, help='subnets that measure uncertainty (default 5; 0 = plain algorithm)')
    g.add_argument('--estimator', help='how uncertainty is measured: exact (K extra forward passes, the paper; '
                                       'default) or amortised (rsps/gdas/setn/enas: the last K training losses, no extra pass)')
    g.add_argument('--uncertainty-precision', help='arithmetic of the exact estimator\'s passes: auto (bf16 autocast on a '
                                                   'CUDA GPU, else fp32; default), fp32 or bf16')
    g = p.add_argument_group('data')
    g.add_argument('--dataset', help='digits (embedded), cifar10, cifar100, imagenet16-120, folder; ptb for the rnn '
                                     'spaces (default digits; ptb)')
    g.add_argument('--data-dir', help='folder or zip holding the dataset (cifar10 and ptb default to ../shared/data)')
    g.add_argument('--subset', type=int, help='keep only this many samples (rnn: sequences) of each search split')
    g.add_argument('--image-size', type=int, help='resize the images to this many pixels a side (default: as stored)')
    g = p.add_argument_group('network and training')
    g.add_argument('--epochs', type=int, help=d('epochs'))
    g.add_argument('--batch-size', type=int, help='(default 64; rnn spaces 256)')
    g.add_argument('--channels', type=int, help='width C of the network (default 16)')
    g.add_argument('--cells', type=int, help='cells per stage N (default 5 on nb201; 2 on darts/nasnet, '
                                             'i.e. 8 cells with the 2 reduction cells)')
    g.add_argument('--stem', help='darts/nasnet: cifar (one 3x3 conv) or imagenet (three stride-2 convs) '
                                  f'{d("stem")}')
    g.add_argument('--hidden', type=int, help='rnn spaces: hidden and embedding size (default 300)')
    g.add_argument('--bptt', type=int, help='rnn spaces: tokens per sequence, the curriculum\'s sample (default 35)')
    g.add_argument('--nodes', type=int, help='rnn spaces: nodes of the recurrent cell (default 8; rnn-enas 12)')
    g.add_argument('--dropout-scale', type=float, help='rnn spaces: times DARTS\' dropout rates (0.75 output and cell '
                                                       'input, 0.25 hidden, 0.2 embedding; default 1, 0: none)')
    g.add_argument('--lr', dest='learning_rate', type=float, help='weight learning rate (default 0.025; rnn spaces 20)')
    g.add_argument('--eta-min', type=float, help='final learning rate of the cosine schedule (default 0.001; rnn '
                                                 'spaces: the learning rate, constant)')
    g.add_argument('--momentum', type=float, help='(default 0.9; rnn spaces 0)')
    g.add_argument('--weight-decay', type=float, help='(default 5e-4; rnn spaces 5e-7)')
    g.add_argument('--grad-clip', type=float, help='clip the weight gradients\' norm (default: off; rnn spaces 0.25)')
    g.add_argument('--arch-lr', dest='arch_learning_rate', type=float,
                   help='architecture (or ENAS controller) learning rate (default 3e-4, rnn spaces 3e-3; ENAS 1e-3)')
    g.add_argument('--candidates', dest='num_candidates', type=int,
                   help=f'RSPS/SETN/ENAS: candidates scored for the final choice {d("num_candidates")}')
    g.add_argument('--selection-size', type=int, help='validation samples that score candidates (default 512; rnn '
                                                      'spaces 64 sequences)')
    g.add_argument('--close', action=argparse.BooleanOptionalAction,
                   help='nb201: CLOSE\'s curriculum on the sharing extent: a CLOSENet supernet whose cells draw their '
                        'convolutions from a pool of blocks that grows during the search (default: off)')
    g.add_argument('--close-blocks', type=int, help='CLOSE: blocks the pool grows to (default 4)')
    g.add_argument('--close-epochs', help='CLOSE: 0-based epochs at which a block is added, e.g. 2,4,6 (default: '
                                          'CLOSE\'s schedule, a block after each fifth of the epochs)')
    g.add_argument('--rank-cells', type=int, help='after the search, score this many random cells with the supernet '
                                                  'and rank them against NAS-Bench-201 (Kendall tau; default 0: off)')
    g.add_argument('--rank-samples', type=int, help=f'validation images that score them {d("rank_samples")}')
    g.add_argument('--tau-max', type=float, help='GDAS: initial Gumbel temperature (default 10)')
    g.add_argument('--tau-min', type=float, help='GDAS: final Gumbel temperature (default 0.1)')
    g.add_argument('--controller-steps', type=int, help='ENAS: controller updates per epoch (default 50)')
    g.add_argument('--controller-aggregate', type=int, help='ENAS: samples per controller update (default 20)')
    g.add_argument('--eta', type=float, help='Amended-DARTS: weight of the amended term (default 0.1)')
    g.add_argument('--hvp', help='Amended-DARTS: exact (double backward, default) or finite-difference')
    g = p.add_argument_group('run')
    g.add_argument('--config', dest='config_file', help='YAML file of options (names as in a run\'s config.yaml); '
                                                        'options given here override it')
    if not sweep:
        if resume:
            g.add_argument('--resume', help='continue the search in this run folder from its newest usable checkpoint')
        g.add_argument('--seed', type=int, help=d('seed'))
        g.add_argument('--out', help='run folder (default runs/<space>-<strategy>-<curriculum>-k<k>-<dataset>-s<seed>-<time>)')
        g.add_argument('--overwrite', action='store_true', help='reuse an existing run folder')
    g.add_argument('--device', help=f'{", ".join(DEVICES)} (default auto: GPU when there is one)')
    g.add_argument('--nb201-table', help='NAS-Bench-201 accuracy table CSV (default $NNI_CNAS_NB201_TABLE or '
                                         '../shared/data/nasbench201/)')
    g.add_argument('--nats-bench', help='official NATS-Bench topology file/folder, looked up through nats_bench')
    g.add_argument('--tensorboard', action=argparse.BooleanOptionalAction,
                   help='Lightning\'s TensorBoard log in RUN/tensorboard (default: on)')
    g.add_argument('--progress-bar', action=argparse.BooleanOptionalAction,
                   help='Lightning\'s per-step progress bar (default: on when the output is a terminal)')


def _lookup_parser(sub) -> None:
    p = sub.add_parser('lookup', help='NAS-Bench-201 accuracies of a cell',
                       description='Print the NAS-Bench-201 accuracies (200 epochs) of an architecture string.')
    p.add_argument('arch', help="arch string, e.g. '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
                                "nor_conv_3x3~1|skip_connect~2|'")
    p.add_argument('--nb201-table', help='accuracy table CSV (default $NNI_CNAS_NB201_TABLE or ../shared/data)')
    p.add_argument('--nats-bench', help='official NATS-Bench topology file/folder')
    p.add_argument('--json', action='store_true', help='print JSON')
    p.set_defaults(run=_cmd_lookup)


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
    p.add_argument('--strategies', type=_names, help='only these of the protocol\'s strategies (comma-separated)')
    p.add_argument('--seeds', help='only these of the protocol\'s seeds (comma-separated)')
    p.set_defaults(run=_cmd_quality)
    p = sub.add_parser('quality-table', help='table and figure of search-quality results',
                       description='Mean and std over seeds per strategy and curriculum of quality results files.')
    p.add_argument('results', nargs='+', help='JSON-lines results files of nni-cnas quality (one table)')
    p.add_argument('--strategies', type=_names, help='only the runs of these strategies (comma-separated)')
    p.add_argument('--md', help='also write the Markdown table to this file')
    p.add_argument('--png', help='draw test accuracy and Kendall tau per strategy to this PNG')
    p.set_defaults(run=_cmd_quality_table)


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__

    parser = _Parser(prog='nni-cnas', description='Curriculum-NAS for NNI: curriculum searches and NAS-Bench-201 look-ups.')
    parser.add_argument('--version', action='version', version=f'nni-cnas {__version__}')
    sub = parser.add_subparsers(dest='command', required=True, parser_class=_Parser)
    _search_parser(sub)
    _sweep_parser(sub)
    _sweep_plot_parser(sub)
    _ranks_parser(sub)
    _quality_parsers(sub)
    _trial_parser(sub)
    p = sub.add_parser('report', help='table and figures of run folders (curves, data-weight histograms)',
                       description='One row per run folder (finished or not); with --png-dir, curves.png (per-epoch '
                                   'accuracies of every run on shared axes: plain dashed, curriculum solid) and '
                                   'weights.png (data-weight histogram per epoch of each curriculum run).')
    p.add_argument('runs', nargs='+', help='run folders of nni-cnas search (or trial)')
    p.add_argument('--md', help='also write the table to this Markdown file')
    p.add_argument('--png-dir', help='write curves.png and weights.png into this folder')
    p.set_defaults(run=_cmd_report)
    p = sub.add_parser('nnictl-loopback', help='path of the preload that binds NNI\'s manager to 127.0.0.1',
                       description='Print the path of a Node.js preload script; with NODE_OPTIONS="--require PATH", '
                                   'nnictl\'s manager and web UI listen on 127.0.0.1 only instead of every interface.')
    p.set_defaults(run=_cmd_nnictl_loopback)
    _lookup_parser(sub)
    _retrain_parser(sub)
    return parser


def _retrain_parser(sub) -> None:
    from .retrain.cnn import RetrainConfig
    from .retrain.rnn import RecurrentRetrainConfig

    cnn, rnn = RetrainConfig(), RecurrentRetrainConfig()
    p = sub.add_parser('retrain', help='retrain a found cell from scratch: DARTS/NASNet (test accuracy, params, FLOPs) '
                                       'or recurrent (validation and test perplexity)',
                       argument_default=argparse.SUPPRESS,
                       description='Build the network of a genotype (a run folder, a genotype.json or .txt file, or '
                                   'Genotype(...) text) and train it from scratch with DARTS\' recipe: for DARTS/NASNet '
                                   'cells SGD, cosine, cutout, auxiliary head, ScheduledDropPath; for recurrent cells '
                                   'a tied language model trained by truncated BPTT. Checkpoints every epoch.')
    p.add_argument('source', nargs='?', default=None, help='run folder, genotype file or Genotype(...) text')
    p.add_argument('--resume', default=None, help='continue the retraining in this output folder from its checkpoint')
    options = [
        ('dataset', str, 'cifar10, cifar100 or digits; ptb for recurrent cells'),
        ('data_dir', str, 'folder or zip holding the dataset (cifar10 and ptb default to ../shared/data)'),
        ('subset', int, 'keep only this many training and test samples (recurrent: tokens of each split)'),
        ('image_size', int, 'resize the images to this many pixels a side'),
        ('epochs', int, 'training epochs'), ('batch_size', int, 'batch size (recurrent: parallel streams)'),
        ('channels', int, 'width C of the first stage'), ('cells', int, 'normal cells per stage (3N+2 cells in all)'),
        ('stem', str, 'cifar or imagenet'), ('hidden', int, 'hidden and embedding size of a recurrent cell'),
        ('bptt', int, 'tokens per truncated back-propagation piece'),
        ('learning_rate', float, 'initial learning rate (cosine to 0; recurrent: constant)'),
        ('momentum', float, 'SGD momentum'), ('weight_decay', float, 'weight decay'),
        ('grad_clip', float, 'gradient norm clip (0: off)'),
        ('cutout', int, 'cutout square side, 0: off (default: half the image side, 16 on CIFAR)'),
        ('auxiliary_weight', float, 'auxiliary head loss weight (0: no head)'),
        ('drop_path', float, 'final ScheduledDropPath probability (rises linearly from 0)'),
        ('seed', int, 'random seed'), ('device', str, 'auto, cpu or cuda'),
    ]
    for name, kind, text in options:
        flag = '--lr' if name == 'learning_rate' else '--' + name.replace('_', '-')
        defaults = [str(getattr(config, name)) + suffix for config, suffix in ((cnn, ''), (rnn, ' recurrent'))
                    if getattr(config, name, None) is not None]
        p.add_argument(flag, dest=name, type=kind, help=f'{text} (default {"; ".join(defaults)})' if defaults else text)
    p.add_argument('--out', help='output folder (default runs/retrain-<space>-<dataset>-s<seed>-<time>)')
    p.add_argument('--overwrite', action='store_true', help='reuse an existing output folder')
    p.set_defaults(run=_cmd_retrain)


def _cmd_retrain(args) -> int:
    import dataclasses

    from .retrain.cnn import RetrainConfig, resume_retrain, run_retrain
    from .retrain.rnn import RecurrentRetrainConfig, run_recurrent_retrain
    from .spaces.genotype_reader import read_genotype

    options = {key: value for key, value in vars(args).items() if key not in ('run', 'resume', 'command', 'source')}
    if args.resume:
        if args.source or options:
            raise UserError('--resume continues a retraining with its own genotype and options; drop the others')
        result = resume_retrain(args.resume)
    else:
        if not args.source:
            raise UserError('give a run folder, genotype file or Genotype(...) text to retrain (or --resume OUT)')
        genotype = read_genotype(args.source)
        config_class = RecurrentRetrainConfig if genotype.space == 'rnn' else RetrainConfig
        fields = {field.name for field in dataclasses.fields(config_class)}
        wrong = sorted(set(options) - fields)
        if wrong:
            kind = 'recurrent' if genotype.space == 'rnn' else genotype.space
            raise UserError(f'--{wrong[0].replace("_", "-")} does not apply to retraining a {kind} cell')
        config = config_class(source=args.source, **options)
        if genotype.space == 'rnn':
            result = run_recurrent_retrain(config, genotype)
        else:
            result = run_retrain(config)
    if 'test_ppl' in result:
        print(f'\nvalidation perplexity {result["val_ppl"]:.2f}, test perplexity {result["test_ppl"]:.2f} '
              f'(best of {result["epochs"]} epochs: {result["best_epoch"] + 1}); {result["params"] / 1e6:.3f}M '
              f'parameters; {result["out"]}')
    else:
        print(f'\ntest accuracy {100 * result["test_acc"]:.2f}% after {result["epochs"]} epochs; '
              f'{result["params"] / 1e6:.3f}M parameters, {result["multiply_adds"] / 1e6:.1f}M multiply-adds; '
              f'{result["out"]}')
    return 0


def _print_lookup(result: dict, stream, indent: str = '') -> None:
    print(f'{indent}NAS-Bench-201 #{result["index"]} ({result["source"]})', file=stream)
    for dataset in ('cifar10', 'cifar100', 'imagenet16-120'):
        accuracy = result[dataset]
        print(f'{indent}  {dataset:<15} test {accuracy["test"]:6.2f}%   valid {accuracy["valid"]:6.2f}%', file=stream)


def _cmd_lookup(args) -> int:
    from .benchmarks.nb201 import open_benchmark

    benchmark = open_benchmark(args.nb201_table, args.nats_bench, required=True)
    result = benchmark.lookup(args.arch)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(result['arch'])
        _print_lookup(result, sys.stdout)
    return 0


def _quiet_libraries() -> None:
    """Lightning and NNI announce devices, tips and deprecations on every run; keep warnings only."""
    import nni.nas.evaluator.pytorch  # noqa: F401  (imports set their loggers' levels; set ours after)
    import pytorch_lightning  # noqa: F401

    for name in ('pytorch_lightning', 'lightning_fabric', 'nni'):
        logging.getLogger(name).setLevel(logging.WARNING)
    # "Validation dataloaders are missing": expected, one-shot strategies run no validation loop.
    logging.getLogger('nni.nas.evaluator.pytorch.lightning').setLevel(logging.ERROR)
    warnings.filterwarnings('ignore', message=r'.*LeafSpec.*')
    warnings.filterwarnings('ignore', message=r'.*does not have many workers.*')
    warnings.filterwarnings('ignore', message=r'.*You defined a `validation_step` but have no `val_dataloader`.*')


def _load_yaml(path: str) -> dict:
    import yaml

    try:
        with open(path, encoding='utf-8') as f:
            values = yaml.safe_load(f)
    except FileNotFoundError:
        raise UserError(f'config file {path} does not exist') from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise UserError(f'config file {path} is not readable YAML ({type(error).__name__}: {error})') from None
    return {} if values is None else values


def _given_options(args, skip=()) -> dict:
    """Options of ``--config`` (YAML) overridden by those given on the command line."""
    given = {key: value for key, value in vars(args).items()
             if key not in ('command', 'run', 'config_file', *skip)}
    config_file = getattr(args, 'config_file', None)
    values = _load_yaml(config_file) if config_file else {}
    if not isinstance(values, dict):
        raise UserError(f'config file {config_file} must hold a mapping of option names to values')
    return {**values, **given}


def _search_config(args):
    from .run.search import SearchConfig

    if getattr(args, 'resume', None) is not None:
        given = {key for key in vars(args) if key not in ('command', 'run', 'config_file', 'resume')}
        if given or getattr(args, 'config_file', None):
            raise UserError(f'--resume continues a run with its own options; drop {", ".join(sorted(given)) or "--config"}')
        return None
    values = _given_options(args, skip=('resume',))
    return SearchConfig.from_mapping(values, getattr(args, 'config_file', None) or 'options').resolve()


def _cmd_search(args) -> int:
    from .run.search import resume_search, run_search

    config = _search_config(args)
    if config is None:
        print(f'nni-cnas search: resuming {args.resume}', flush=True)
    else:
        size = f'hidden {config.hidden}' if config.hidden else f'C={config.channels} N={config.cells}'
        print(f'nni-cnas search: {config.strategy} with curriculum {config.curriculum} (k={config.k}) on '
              f'{config.dataset}, {config.epochs} epochs, {size}; run folder {config.out}', flush=True)
    _quiet_libraries()
    result = resume_search(args.resume) if config is None else run_search(config)
    print(f'\nfound architecture: {result["arch"]}')
    print(f'  selected by {result["selected_by"]}'
          + (f' (score {result["selection_score"]:.4f})' if result['selection_score'] is not None else ''))
    if result['lookup']:
        _print_lookup(result['lookup'], sys.stdout, indent='  ')
    elif result.get('genotype'):
        print(f'  genotype, drawing: {result["run_folder"]}/genotype.txt, genotype.json, cells.png; '
              f'retrain it with: nni-cnas retrain {result["run_folder"]}')
    else:
        print('  (no NAS-Bench-201 benchmark found for a look-up; see --nb201-table)')
    print(f'  run folder: {result["run_folder"]}')
    return 0


def _print_table(table: str, md: Optional[str]) -> None:
    """Print a Markdown table, and write it to ``md`` when given."""
    print(table)
    if md:
        from .files import atomic_write_text

        atomic_write_text(Path(md), table + '\n')
        print(f'wrote {md}')


def _cmd_report(args) -> int:
    from .experiments.report import format_runs, read_runs

    runs = read_runs(args.runs)
    _print_table(format_runs(runs), args.md)
    if args.png_dir:
        from .experiments.plots import plot_search_curves, plot_weight_histograms

        folder = Path(args.png_dir)
        plot_search_curves(runs, folder / 'curves.png')
        print(f'wrote {folder / "curves.png"}')
        if plot_weight_histograms(runs, folder / 'weights.png'):
            print(f'wrote {folder / "weights.png"}')
        else:
            print('no run recorded data weights (plain runs only): no weights.png')
    return 0


def _cmd_nnictl_loopback(args) -> int:
    from .nnictl import loopback_script

    print(loopback_script())
    return 0


def _cmd_trial(args) -> int:
    from .run.trial import run_trial

    _quiet_libraries()
    result = run_trial(_given_options(args))
    print(f'\nfound architecture: {result["arch"]}\n  run folder: {result["run_folder"]}')
    return 0


def _cmd_sweep(args) -> int:
    from .run.search import SearchConfig
    from .experiments.sweep import parse_int_list, run_sweep

    ks, seeds = parse_int_list(args.ks, '--ks'), parse_int_list(args.seeds, '--seeds')
    values = _given_options(args, skip=('ks', 'seeds', 'out', 'png'))
    for name in ('k', 'seed', 'out', 'overwrite'):
        if name in values:  # only a --config file can hold these; the sweep parser has no such options
            raise UserError(f'a sweep sets {name} itself; remove it from {args.config_file}')
    SearchConfig.from_mapping(values, 'options')  # names and types, before anything runs
    _quiet_libraries()
    results = run_sweep(values, ks, seeds, args.out)
    print(f'\n{len(results)} finished runs in {args.out}')
    if getattr(args, 'png', None):
        _draw_sweep(args.out, args.png, 'cifar10')
    return 0


def _draw_sweep(folder: str, png: str, dataset: str) -> None:
    from .experiments.plots import plot_accuracy_against_k
    from .experiments.sweep import sweep_points, sweep_results

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
    _draw_sweep(args.folder, args.png, args.dataset)
    return 0


def _names(text: str) -> List[str]:
    """A comma-separated option as its non-empty names."""
    return [name.strip() for name in text.split(',') if name.strip()]


def _cmd_quality(args) -> int:
    from .experiments.quality import Protocol, format_quality_table, quality_table, run_protocol
    from .experiments.sweep import parse_int_list

    protocol = Protocol.load(Path(args.protocol)).select(
        args.strategies or None,
        parse_int_list(args.seeds, '--seeds') if args.seeds else None)
    _quiet_libraries()
    records = run_protocol(protocol, Path(args.results), Path(args.runs_dir))
    print(f'\n{len(records)} runs of {args.protocol} in {args.results}')
    print(format_quality_table(quality_table(records)))
    return 0


def _cmd_quality_table(args) -> int:
    from .experiments.quality import format_quality_table, quality_table, read_results

    records = [record for path in args.results for record in read_results(Path(path))]
    if not records:
        raise UserError(f'{" ".join(args.results)} hold{"s" if len(args.results) == 1 else ""} no results; '
                        'run nni-cnas quality first')
    if args.strategies:
        records = [record for record in records if record['strategy'] in args.strategies]
        if not records:
            raise UserError(f'no runs of {", ".join(args.strategies)} in {" ".join(args.results)}')
    _print_table(format_quality_table(quality_table(records)), args.md)
    if args.png:
        from .experiments.plots import plot_quality

        plot_quality(records, Path(args.png))
        print(f'wrote {args.png}')
    return 0


def _cmd_ranks(args) -> int:
    from .experiments.policy_ranks import trace_ranks, write_rank_csv
    from .run.folder import RunFolder
    from .spaces.nb201_arch import arch_to_sample

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
        if not any(m.get('policy') for m in metrics):
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
        from .experiments.plots import plot_rank_traces

        plot_rank_traces(traces, Path(args.png))
        print(f'wrote {args.png}')
    for name, rows in traces.items():
        last = max(row['epoch'] for row in rows)
        ranks = ', '.join(f'{row["name"]}: {row["rank"]}' for row in rows if row['epoch'] == last)
        print(f'{name}, last epoch: {ranks}')
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except UserError as error:
        print(f'nni-cnas: error: {error}', file=sys.stderr)
        return EXIT_USAGE
    except NonFiniteLoss as error:
        print(f'nni-cnas: error: {error}', file=sys.stderr)
        return EXIT_NUMERICAL
    except SearchInterrupted as error:
        print(f'nni-cnas: interrupted: {error}', file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print('nni-cnas: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
