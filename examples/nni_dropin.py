"""An NNI 3.0 NAS script in which only the strategy line changed (and nni_cnas is imported): Curriculum-NAS DARTS.

    python examples/nni_dropin.py            # NNI's NAS-Bench-201 hub space, 8x8 digits, a few epochs
    python examples/nni_dropin.py --tiny     # the size the tests run

Everything except the marked line is plain NNI: NNI's hub space, NNI's Classification evaluator,
NNI's NasExperiment, NNI's export. scikit-learn's digits stand in for a real dataset (no download).
"""

import argparse

import torch
from nni.nas.evaluator.pytorch import Classification, DataLoader
from nni.nas.experiment import NasExperiment
from nni.nas.hub.pytorch import NasBench201
from sklearn.datasets import load_digits
from torch.utils.data import TensorDataset

import nni_cnas


def digits(first: bool, limit: int):
    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).div(16).unsqueeze(1).repeat(1, 3, 1, 1)  # 3 channels
    y = torch.tensor(data.target)
    half = len(y) // 2
    part = slice(0, half) if first else slice(half, None)
    return TensorDataset(x[part][:limit], y[part][:limit])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--tiny', action='store_true')
    args = parser.parse_args()
    limit, epochs, width = (64, 2, 4) if args.tiny else (900, 5, 8)
    torch.manual_seed(0)

    model_space = NasBench201(stem_out_channels=width, num_modules_per_stack=1)
    evaluator = Classification(
        train_dataloaders=DataLoader(digits(True, limit), batch_size=32, shuffle=True),
        val_dataloaders=DataLoader(digits(False, limit), batch_size=32),
        max_epochs=epochs, num_classes=10, learning_rate=0.01,
        accelerator='auto', enable_progress_bar=False, logger=False, enable_checkpointing=False,
    )
    # strategy = nni.nas.strategy.DARTS()
    strategy = nni_cnas.DARTS()  # the only change: DARTS with the Curriculum-NAS data curriculum

    experiment = NasExperiment(model_space, evaluator, strategy)
    experiment.run()
    architecture = experiment.export_top_models(formatter='dict')[0]
    experiment.stop()
    print(architecture)
    print(nni_cnas.spaces.sample_to_arch(architecture))  # as a NAS-Bench-201 arch string


if __name__ == '__main__':
    main()
