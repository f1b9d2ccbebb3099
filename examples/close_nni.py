"""An NNI 3.0 NAS script with both curricula: CLOSE (a CLOSENet space) and the data curriculum (RSPS).

    python examples/close_nni.py            # 8x8 digits, 10 epochs: blocks added at epochs 2 and 4
    python examples/close_nni.py --tiny     # the size the tests run

NNI's Classification evaluator, NasExperiment and export; the space is nni_cnas' CLOSENet of the
NAS-Bench-201 space, whose block pool grows when an nni_cnas strategy starts an epoch.
"""

import argparse

import torch
from nni.nas.evaluator.pytorch import Classification, DataLoader
from nni.nas.experiment import NasExperiment

import nni_cnas
from nni_dropin import digits  # the same data as the drop-in example


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--tiny', action='store_true')
    args = parser.parse_args()
    limit, epochs, width = (64, 5, 4) if args.tiny else (900, 10, 8)
    torch.manual_seed(0)

    model_space = nni_cnas.CloseNasBench201Space(channels=width, cells=1, max_blocks=3)  # grows after 1/5 and 2/5 of the epochs
    evaluator = Classification(
        train_dataloaders=DataLoader(digits(True, limit), batch_size=32, shuffle=True),
        val_dataloaders=DataLoader(digits(False, limit), batch_size=32),
        max_epochs=epochs, num_classes=10, learning_rate=0.01,
        accelerator='auto', enable_progress_bar=False, logger=False, enable_checkpointing=False,
    )
    strategy = nni_cnas.RSPS(curriculum='epoch', k=3)  # curriculum=None: CLOSE alone

    experiment = NasExperiment(model_space, evaluator, strategy)
    experiment.run()
    architecture = experiment.export_top_models(formatter='dict')[0]
    experiment.stop()
    print(f'blocks per cell at the end: {int(strategy.search_module.model.active_blocks)}')
    print(nni_cnas.spaces.sample_to_arch(architecture))


if __name__ == '__main__':
    main()
