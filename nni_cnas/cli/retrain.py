"""``nni-cnas retrain``: train a found DARTS, NASNet or recurrent cell from scratch."""

from __future__ import annotations

import argparse

from ..errors import UserError


def _retrain_parser(sub) -> None:
    from ..retrain.cnn import RetrainConfig
    from ..retrain.rnn import RecurrentRetrainConfig

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
    p.add_argument('--precision', help='32 (default), bf16-mixed (bf16 autocast of the forward and the loss) or '
                   '16-mixed (fp16 autocast with a gradient scaler; CUDA only)')
    p.add_argument('--progress-bar', action=argparse.BooleanOptionalAction,
                   help='a progress bar within each epoch (default: on when stderr is a terminal)')
    p.set_defaults(run=_cmd_retrain)


def _cmd_retrain(args) -> int:
    import dataclasses

    from ..retrain.cnn import RetrainConfig, resume_retrain, run_retrain
    from ..retrain.rnn import RecurrentRetrainConfig, run_recurrent_retrain
    from ..spaces.genotype_reader import read_genotype

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
