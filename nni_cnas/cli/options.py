"""The options of ``nni-cnas search``, ``sweep`` and ``trial``, generated from the search config's
field declarations (:mod:`nni_cnas.run.config`) and the strategy registry
(:mod:`nni_cnas.strategies.registry`): a default or a list of names is written there, once, and
the help shows it. argparse keeps no defaults, so that only the options given on the command line
override ``--config`` and the defaults that :meth:`SearchConfig.resolve` fills in."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Dict, List

from ..run.config import GROUPS, SearchConfig, flag_of
from ..strategies import registry

__all__ = ['add_search_options', 'SWEEP_OWN']

#: Options a sweep sets itself, per run.
SWEEP_OWN = ('k', 'seed', 'out', 'overwrite')
_TYPES = {'int': int, 'float': float, 'str': str}


def _value(value: Any) -> str:
    return f'{value:g}' if isinstance(value, float) else str(value)


def _default_help(field: dataclasses.Field) -> str:
    meta = field.metadata
    text = meta['default_text']
    if text is not None:
        return text() if callable(text) else text
    by_kind = meta['by_kind']
    if by_kind:
        image, text_value = by_kind.get('image'), by_kind.get('text')
        parts = [_value(image)] if image is not None else []
        if text_value is not None:
            parts.append(f'recurrent spaces {_value(text_value)}' if parts else _value(text_value))
        return '; '.join(parts)
    if field.type in ('bool', 'Optional[bool]'):
        return 'on' if field.default else 'off'
    return '' if field.default is None else _value(field.default)


def _help(field: dataclasses.Field) -> str:
    meta = field.metadata
    parts = [meta['help']] if meta['help'] else []
    choices = meta['choices']
    if choices is not None:
        parts.append('one of ' + ', '.join(choices() if callable(choices) else choices))
    default = _default_help(field)
    text = '; '.join(parts)
    return f'{text} (default {default})' if default else text


def _strategy_option_help(name: str) -> str:
    """The option's help, then each strategy's default (strategies with the same default together)."""
    by_default: Dict[str, List[str]] = {}
    text = ''
    for spec in registry.specs():
        option = spec.option(name)
        if option is None:
            continue
        text = text or option.help
        default = _value(option.default)
        if option.text_default is not None:
            default += f', recurrent spaces {_value(option.text_default)}'
        by_default.setdefault(default, []).append(spec.name)
    defaults = '; '.join(f'{", ".join(strategies)}: {default}' for default, strategies in by_default.items())
    return f'{text} (default {defaults})'


def _space_option_help(name: str) -> str:
    """The option's help, the spaces it applies to and its default."""
    from ..spaces import applies_to, declaration

    option = declaration(name)
    if option.default is None:
        return f'{applies_to(name)}: {option.help}'
    default = {True: 'on', False: 'off'}.get(option.default) if isinstance(option.default, bool) else _value(option.default)
    return f'{applies_to(name)}: {option.help}; default {default}'


def add_search_options(p: argparse.ArgumentParser, sweep: bool, resume: bool = True) -> None:
    groups = {name: p.add_argument_group(name) for name in GROUPS}
    for field in dataclasses.fields(SearchConfig):
        if not field.metadata.get('cli', True) or (sweep and field.name in SWEEP_OWN):
            continue
        group = groups[field.metadata['group']]
        kind = field.type[len('Optional['):-1] if field.type.startswith('Optional[') else field.type
        if kind == 'bool':
            action = 'store_true' if field.name == 'overwrite' else argparse.BooleanOptionalAction
            group.add_argument(flag_of(field), dest=field.name, action=action, help=_help(field))
        else:
            group.add_argument(flag_of(field), dest=field.name, type=_TYPES[kind], help=_help(field))
    for name in registry.option_names():
        option = registry.SPECS.declaration(name)
        groups['strategy'].add_argument(option.cli_flag, dest=name, type=option.type, help=_strategy_option_help(name))
    from ..spaces import declaration, option_names as space_option_names

    for name in space_option_names():
        option = declaration(name)
        kind = dict(action=argparse.BooleanOptionalAction) if option.type is bool else dict(type=option.type)
        groups['network and training'].add_argument(option.cli_flag, dest=name, help=_space_option_help(name), **kind)
    run = groups['run']
    run.add_argument('--config', dest='config_file', help='YAML file of options (names as in a run\'s config.yaml); '
                                                          'options given here override it')
    if not sweep and resume:
        run.add_argument('--resume', help='continue the search in this run folder from its newest usable checkpoint')
