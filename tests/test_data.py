"""Datasets and loaders: readers for each layout, the on-device loader, index wrapping."""

import io
import pickle
import zipfile

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from nni_cnas.data import Augmentation, TensorImageLoader, _halves, load_search_data
from nni_cnas.data.indexed import dataset_size, with_indices, yields_indices
from nni_cnas.data.sources import read_cifar, read_image_folder, read_imagenet16
from nni_cnas.errors import UserError
from nni_cnas.paths import shared_data_dir


def make_loader(n=10, batch=4, **kwargs):
    images = torch.arange(n * 1 * 4 * 4, dtype=torch.int64).remainder(256).to(torch.uint8).view(n, 1, 4, 4)
    labels = torch.arange(n)
    options = dict(shuffle=True, augment=None, mean=[0.0], std=[1.0], seed=3)
    options.update(kwargs)
    return TensorImageLoader(images, labels, batch, **options), images, labels


def test_loader_covers_every_sample_once_with_its_index():
    loader, images, labels = make_loader()
    seen = []
    for (x, y), index in loader:
        assert torch.equal(y, labels[index])
        assert torch.allclose(x, images[index].float() / 255)
        seen += index.tolist()
    assert sorted(seen) == list(range(10)) and len(loader) == 3


def test_loader_order_depends_on_seed_and_epoch_only():
    first, _, _ = make_loader()
    second, _, _ = make_loader()
    order = lambda loader: [i.tolist() for _, i in loader]  # noqa: E731
    assert order(first) == order(second)
    first.sampler.set_epoch(1)
    epoch1 = order(first)
    second.sampler.set_epoch(1)
    assert epoch1 == order(second) and epoch1 != order(make_loader()[0])
    second.sampler.set_epoch(1)
    assert order(second) == epoch1  # set_epoch replays the epoch (resume)


def test_drop_last_and_no_index():
    loader, _, _ = make_loader(drop_last=True, with_index=False)
    batches = list(loader)
    assert len(batches) == len(loader) == 2 and all(len(b) == 2 and len(b[0]) == 4 for b in batches)


def test_augmentation_is_a_padded_crop_possibly_flipped():
    images = torch.randint(0, 256, (32, 3, 6, 6), dtype=torch.uint8)
    out = Augmentation(pad=2, flip=True)(images, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    flipped_seen = shifted_seen = False
    for i in range(32):
        windows = [(dy, dx, f) for dy in range(5) for dx in range(5) for f in (False, True)
                   if torch.equal(out[i], (lambda w: w.flip(-1) if f else w)(padded[i, :, dy:dy + 6, dx:dx + 6]))]
        assert windows, f'sample {i} is not a crop of its padded image'
        flipped_seen |= any(f for _, _, f in windows) and not any(not f for _, _, f in windows)
        shifted_seen |= all((dy, dx) != (2, 2) for dy, dx, _ in windows)
    assert flipped_seen and shifted_seen


def test_augmentation_is_seeded():
    images = torch.randint(0, 256, (8, 3, 6, 6), dtype=torch.uint8)
    a = Augmentation()(images, torch.Generator().manual_seed(5))
    b = Augmentation()(images, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_with_indices_rebuilds_a_dataloader():
    dataset = TensorDataset(torch.arange(10).float().view(10, 1), torch.arange(10))
    loader = DataLoader(dataset, batch_size=3, shuffle=True)
    indexed = with_indices(loader)
    assert yields_indices(make_loader()[0]) and not yields_indices(loader)
    seen = []
    for (x, y), index in indexed:
        assert torch.equal(x.view(-1), index.float()) and torch.equal(y, index)
        seen += index.tolist()
    assert sorted(seen) == list(range(10)) and dataset_size(indexed) == 10


def test_with_indices_keeps_a_custom_collate():
    dataset = TensorDataset(torch.arange(6).float(), torch.arange(6))

    def collate(items):
        return torch.stack([x for x, _ in items]) * 10, torch.stack([y for _, y in items])

    (x, y), index = next(iter(with_indices(DataLoader(dataset, batch_size=6, collate_fn=collate))))
    assert torch.equal(x, index.float() * 10) and torch.equal(y, index)


def test_with_indices_gives_up_on_iterables():
    class Stream(IterableDataset):
        def __iter__(self):
            yield torch.zeros(1), torch.tensor(0)

    assert with_indices(DataLoader(Stream(), batch_size=1)) is None
    assert with_indices([(torch.zeros(1, 1), torch.zeros(1))]) is None


def test_digits_halves():
    data = load_search_data('digits')
    assert (len(data.train), len(data.val), data.num_classes, data.in_channels, data.image_size) == (899, 898, 10, 1, 8)
    first, second = _halves(1797)
    assert len(set(first.tolist()) | set(second.tolist())) == 1797 and not set(first.tolist()) & set(second.tolist())
    small = load_search_data('digits', subset=20)
    assert len(small.train) == len(small.val) == 20


def write_cifar(root, name, per_file=4):
    folder = root / ('cifar-10-batches-py' if name == 'cifar10' else 'cifar-100-python')
    folder.mkdir(parents=True)
    files = [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch'] if name == 'cifar10' else ['train', 'test']
    key = b'labels' if name == 'cifar10' else b'fine_labels'
    for i, file in enumerate(files):
        data = np.full((per_file, 3072), i, dtype=np.uint8)
        with open(folder / file, 'wb') as f:
            pickle.dump({b'data': data, key: list(range(per_file))}, f)
    return root


@pytest.mark.parametrize('name, train_size', [('cifar10', 20), ('cifar100', 4)])
def test_read_cifar_pickles(tmp_path, name, train_size):
    train, test = read_cifar(write_cifar(tmp_path, name), name)
    assert train.images.shape == (train_size, 3, 32, 32) and train.images.dtype == torch.uint8
    assert len(test) == 4 and test.labels.tolist() == [0, 1, 2, 3]


def test_cifar10_search_split_from_pickles(tmp_path):
    data = load_search_data('cifar10', write_cifar(tmp_path, 'cifar10'))
    assert len(data.train) == len(data.val) == 10 and data.benchmark == 'cifar10'


def test_cifar_errors(tmp_path):
    with pytest.raises(UserError, match='python-pickle layout'):
        read_cifar(tmp_path, 'cifar10')
    root = write_cifar(tmp_path / 'bad', 'cifar10')
    (root / 'cifar-10-batches-py' / 'data_batch_3').write_bytes(b'not a pickle')
    with pytest.raises(UserError, match='not a readable dataset pickle'):
        read_cifar(root, 'cifar10')
    with pytest.raises(UserError, match='does not exist'):
        load_search_data('cifar100', tmp_path / 'nowhere')


def test_read_imagenet16_keeps_120_classes(tmp_path):
    folder = tmp_path / 'ImageNet16'
    folder.mkdir()
    for file in [f'train_data_batch_{i}' for i in range(1, 11)] + ['val_data']:
        with open(folder / file, 'wb') as f:
            pickle.dump({'data': np.zeros((3, 768), np.uint8), 'labels': [1, 120, 121]}, f)
    train, val = read_imagenet16(tmp_path)
    assert train.images.shape == (20, 3, 16, 16) and set(train.labels.tolist()) == {0, 119}
    assert len(val) == 2


def image_bytes(value, size=6, fmt='PNG'):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(buffer, fmt)
    return buffer.getvalue()


def test_image_folder_and_zip_agree(tmp_path):
    folder = tmp_path / 'images'
    with zipfile.ZipFile(tmp_path / 'images.zip', 'w') as archive:
        for split, count in (('train', 3), ('test', 1)):
            for label, cls in enumerate(['cat', 'ant']):
                for i in range(count):
                    blob = image_bytes(40 * label + i)
                    path = folder / split / cls / f'{i}.png'
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(blob)
                    archive.writestr(f'top/{split}/{cls}/{i}.png', blob)
    from_folder = read_image_folder(folder)
    from_zip = read_image_folder(tmp_path / 'images.zip')
    from_cache = read_image_folder(tmp_path / 'images.zip')  # second read: the decoded cache
    assert from_folder[2] == from_zip[2] == ['ant', 'cat']  # classes sorted by name
    for a, b in ((from_folder, from_zip), (from_zip, from_cache)):
        assert torch.equal(a[0].images, b[0].images) and torch.equal(a[0].labels, b[0].labels)
    assert from_zip[0].images.shape == (6, 3, 6, 6) and len(from_zip[1]) == 2
    assert from_zip[0].labels.tolist() == [0, 0, 0, 1, 1, 1]  # ant = 0
    data = load_search_data('folder', tmp_path / 'images.zip')
    assert data.num_classes == 2 and len(data.train) + len(data.val) == 6


def test_a_damaged_or_stale_cache_is_decoded_again_with_a_warning(tmp_path, caplog, monkeypatch):
    monkeypatch.setenv('NNI_CNAS_CACHE', str(tmp_path / 'cache'))
    with zipfile.ZipFile(tmp_path / 'images.zip', 'w') as archive:
        for label, cls in enumerate(['cat', 'ant']):
            for i in range(2):
                archive.writestr(f'train/{cls}/{i}.png', image_bytes(40 * label + i))
    first = read_image_folder(tmp_path / 'images.zip')  # decoded, then cached
    (cached,) = (tmp_path / 'cache').glob('images-*.npz')
    for damage in (lambda: cached.write_bytes(cached.read_bytes()[:100]),  # cut short
                   lambda: np.savez(cached, train_images=first[0].images[:1].numpy(), train_labels=np.zeros(1, np.int64))):
        damage()
        caplog.clear()
        again = read_image_folder(tmp_path / 'images.zip')
        assert torch.equal(again[0].images, first[0].images) and torch.equal(again[0].labels, first[0].labels)
        assert f'the decoded images in {cached} cannot be used' in caplog.text


def test_image_folder_errors(tmp_path):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(UserError, match='train/<class>'):
        read_image_folder(tmp_path / 'empty')
    (tmp_path / 'broken.zip').write_bytes(b'PK no zip')
    with pytest.raises(UserError, match='not a valid zip'):
        read_image_folder(tmp_path / 'broken.zip')
    for name, size in (('a', 6), ('b', 8)):
        folder = tmp_path / 'mixed' / 'train' / name
        folder.mkdir(parents=True)
        (folder / '0.png').write_bytes(image_bytes(0, size))
    with pytest.raises(UserError, match='different sizes'):
        read_image_folder(tmp_path / 'mixed')
    one = tmp_path / 'one' / 'train' / 'a'
    one.mkdir(parents=True)
    (one / '0.png').write_bytes(image_bytes(0, 8))
    with pytest.raises(UserError, match='has 1 class folder with images; a classifier needs at least 2'):
        read_image_folder(tmp_path / 'one')
    (tmp_path / 'one' / 'train' / 'b').mkdir()
    with pytest.raises(UserError, match='train/b holds no images'):
        read_image_folder(tmp_path / 'one')
    (tmp_path / 'one' / 'train' / 'b' / '0.png').write_bytes(image_bytes(0, 8))
    (tmp_path / 'one' / 'train' / 'b' / '1.png').write_bytes(image_bytes(0, 8)[:40])  # cut short
    with pytest.raises(UserError, match=r'one/train/b/1\.png: the image cannot be decoded .*replace or remove the file'):
        read_image_folder(tmp_path / 'one')


def test_the_shared_jpeg_cifar10():
    shared = shared_data_dir()
    archive = shared / 'cifar10' / 'cifar10_images_jpg.zip' if shared else None
    if archive is None or not archive.is_file():
        pytest.skip('the JPEG CIFAR-10 is not here (../shared/data/cifar10/cifar10_images_jpg.zip)')
    train, test, classes = read_image_folder(archive)
    assert classes == sorted(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'])
    assert train.images.shape == (50000, 3, 32, 32) and len(test) == 10000
    assert torch.bincount(train.labels).tolist() == [5000] * 10
    means = train.images.double().mean(dim=(0, 2, 3)) / 255
    assert torch.allclose(means, torch.tensor([0.4914, 0.4822, 0.4465], dtype=torch.float64), atol=0.005)


def test_image_size_area_downsamples_and_scales_the_crop_padding():
    from nni_cnas.data import _resize

    images = torch.tensor([[[[0, 10, 100, 200], [20, 30, 100, 0], [5, 5, 7, 9], [5, 5, 7, 9]]]], dtype=torch.uint8)
    assert _resize(images, 2).tolist() == [[[[15, 100], [5, 8]]]]  # 2x2 block means, rounded
    digits = load_search_data('digits', subset=20, image_size=4)
    assert tuple(digits.train.images.shape[1:]) == (1, 4, 4) and digits.augment.pad == 1
    with pytest.raises(UserError, match='at least 4'):
        load_search_data('digits', subset=20, image_size=2)
