"""What this process may still allocate, on the CPU or a GPU, and byte counts as people read them."""

from __future__ import annotations

import resource

__all__ = ['available_bytes', 'format_bytes', 'native_bf16', 'apply_cuda_math', 'TRAINING_PRECISIONS']

#: Lightning's precisions of the training steps (search and retraining): fp32, bf16 autocast, fp16 autocast.
TRAINING_PRECISIONS = ('32', 'bf16-mixed', '16-mixed')


def format_bytes(count: float) -> str:
    for unit, scale in (('TB', 1e12), ('GB', 1e9), ('MB', 1e6)):
        if count >= scale:
            return f'{count / scale:.1f} {unit}'
    return f'{count / 1e3:.0f} kB'


def available_bytes(device) -> int:
    """Memory this process can still take: the GPU's free memory, or the machine's available
    memory (capped by an address-space limit such as ``ulimit -v``)."""
    import torch

    if getattr(device, 'type', device) == 'cuda':
        return int(torch.cuda.mem_get_info(device)[0])
    import psutil

    available = psutil.virtual_memory().available
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        available = min(available, max(soft - psutil.Process().memory_info().vms, 0))
    return int(available)


def native_bf16(device) -> bool:
    """Whether ``device`` computes in bf16 natively: a CUDA GPU of compute capability 8 or more
    (Ampere, Hopper, ...). ``torch.cuda.is_bf16_supported()`` also says yes where bf16 is only
    emulated (V100, T4: slower than fp32), and asks about the current device, not this one."""
    import torch

    device = torch.device(device)
    if device.type != 'cuda' or not torch.cuda.is_available():
        return False
    return torch.cuda.get_device_capability(device)[0] >= 8


def apply_cuda_math(device, tf32: bool = True) -> None:
    """The math policy of a search or retraining on a CUDA GPU: cuDNN benchmarks its convolution
    algorithms once per shape and keeps the fastest (a search's shapes are fixed, so this pays
    after the first steps; results then agree across runs only to rounding, as on any GPU), and
    float32 matmuls and convolutions use TF32 where the GPU has it (Ampere and later: about 10
    mantissa bits, as Lightning and torch recommend for training), unless ``tf32`` is off.
    Nothing changes on other devices."""
    import torch

    if torch.device(device).type != 'cuda':
        return
    torch.backends.cudnn.benchmark = True
    torch.set_float32_matmul_precision('high' if tf32 else 'highest')
    torch.backends.cudnn.allow_tf32 = tf32
