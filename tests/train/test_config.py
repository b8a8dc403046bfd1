import pytest

from dm.config.schema import ConfigError


@pytest.mark.parametrize(
    "override, message",
    [
        ("subsets.alpha=1.5", "subsets.alpha"),
        ("subsets.alpha=0", "subsets.alpha"),
        ("subsets.num_models=0", "num_models"),
        ("subsets.alfa=0.3", "alfa"),
        ("trainer.epochs=0", "trainer.epochs"),
        ("dataset=npz", "dataset.path"),
        ("model.name=vgg", "model.name"),
    ],
)
def test_bad_config_fails_at_start_with_a_clear_message(compose, override, message):
    with pytest.raises(ConfigError, match=message):
        compose(override)


def test_experiment_configs_compose(compose):
    cfg = compose("experiment=digits_default")
    assert cfg.subsets.num_models == 10000 and cfg.lake.experiment == "digits_default"
    paper = compose("experiment=cifar10_paper", "dataset.path=/nowhere")
    assert paper.trainer.epochs == 24 and paper.trainer.batch_size == 512 and paper.model.name == "resnet9"
