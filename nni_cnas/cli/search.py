"""``nni-cnas search``, ``sweep``, ``trial`` (a search as an NNI trial) and ``nnictl-loopback``."""

from __future__ import annotations

import argparse
import sys

from ..errors import UserError
from ..quiet import quiet_libraries
from .common import add_job_options, given_options, stop_time
from .experiments import draw_sweep
from .lookup import print_lookup
from .options import SWEEP_OWN, add_search_options


def _search_parser(sub) -> None:
    p = sub.add_parser('search', help='run a (curriculum) architecture search', argument_default=argparse.SUPPRESS,
                       description='Search an architecture with a one-shot strategy, with or without the '
                                   'Curriculum-NAS data curriculum. Defaults are NATS-Bench\'s weight-sharing '
                                   'settings on images and DARTS\' on language models; each option says its own.')
    add_search_options(p, sweep=False)
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
    add_job_options(p)
    add_search_options(p, sweep=True)
    p.set_defaults(run=_cmd_sweep)


def _trial_parser(sub) -> None:
    p = sub.add_parser('trial', help='one search as an NNI trial (the trialCommand of an nnictl experiment)',
                       argument_default=argparse.SUPPRESS,
                       description='Run one search with these options and the NNI tuner\'s parameters over them '
                                   '(names as in a run\'s config.yaml), reporting each epoch as an intermediate '
                                   'result and the found architecture in the final result. The run folder defaults '
                                   'to the trial\'s output folder. Outside nnictl it runs as a plain search.')
    add_search_options(p, sweep=False, resume=False)
    p.set_defaults(run=_cmd_trial)


def _nnictl_parser(sub) -> None:
    p = sub.add_parser('nnictl-loopback', help='path of the preload that binds NNI\'s manager to 127.0.0.1',
                       description='Print the path of a Node.js preload script; with NODE_OPTIONS="--require PATH", '
                                   'nnictl\'s manager and web UI listen on 127.0.0.1 only instead of every interface.')
    p.set_defaults(run=_cmd_nnictl_loopback)


def _search_config(args):
    from ..run.config import SearchConfig

    if getattr(args, 'resume', None) is not None:
        given = {key for key in vars(args) if key not in ('command', 'run', 'config_file', 'resume')}
        if given or getattr(args, 'config_file', None):
            raise UserError(f'--resume continues a run with its own options; drop {", ".join(sorted(given)) or "--config"}')
        return None
    values = given_options(args, skip=('resume',))
    return SearchConfig.from_mapping(values, getattr(args, 'config_file', None) or 'options').resolve()


def _cmd_search(args) -> int:
    from ..launch import launch_rank
    from ..run.search import resume_search, run_search

    config = _search_config(args)
    quiet_libraries()
    result = resume_search(args.resume) if config is None else run_search(config)
    if launch_rank() > 0:  # a DDP rank other than 0: rank 0 prints the result
        return 0
    print(f'\nfound architecture: {result["arch"]}')
    print(f'  selected by {result["selected_by"]}'
          + (f' (score {result["selection_score"]:.4f})' if result['selection_score'] is not None else ''))
    if result['lookup']:
        print_lookup(result['lookup'], sys.stdout, indent='  ')
    elif result.get('genotype'):
        print(f'  genotype, drawing: {result["run_folder"]}/genotype.txt, genotype.json, cells.png; '
              f'retrain it with: nni-cnas retrain {result["run_folder"]}')
    elif result.get('benchmark', 'nb201'):
        print('  (no NAS-Bench-201 benchmark found for a look-up; see --nb201-table)')
    else:
        print(f'  (the space is not in a benchmark; the architecture is in {result["run_folder"]}/result.json)')
    print(f'  run folder: {result["run_folder"]}')
    return 0


def _cmd_trial(args) -> int:
    from ..launch import launch_rank
    from ..run.trial import run_trial

    quiet_libraries()
    result = run_trial(given_options(args))
    if launch_rank() > 0:
        return 0
    print(f'\nfound architecture: {result["arch"]}\n  run folder: {result["run_folder"]}')
    return 0


def _cmd_sweep(args) -> int:
    from ..run.config import SearchConfig
    from ..experiments.jobs import check_jobs, parse_shard
    from ..experiments.sweep import parse_int_list, run_sweep

    ks, seeds = parse_int_list(args.ks, '--ks'), parse_int_list(args.seeds, '--seeds')
    values = given_options(args, skip=('ks', 'seeds', 'out', 'png', 'jobs', 'shard', 'stop_after'))
    for name in SWEEP_OWN:
        if name in values:  # only a --config file can hold these; the sweep parser has no such options
            raise UserError(f'a sweep sets {name} itself; remove it from {args.config_file}')
    SearchConfig.from_mapping(values, 'options')  # names and types, before anything runs
    quiet_libraries()
    results = run_sweep(values, ks, seeds, args.out, jobs=check_jobs(getattr(args, 'jobs', 1)),
                        shard=parse_shard(getattr(args, 'shard', None)), stop_at=stop_time(args))
    print(f'\n{len(results)} finished runs in {args.out}')
    if getattr(args, 'png', None):
        draw_sweep(args.out, args.png, 'cifar10')
    return 0


def _cmd_nnictl_loopback(args) -> int:
    from ..nnictl import loopback_script

    print(loopback_script())
    return 0
