"""Grouped stylizer training: each network of a group is the network trained alone.

The reference is today's path, ``train_stylizer`` (Lightning, its DataLoader, its seeds, one
intra-op thread). The group is built from the same plans. Its CPU path (``batched="loop"``) runs
each network through the same arithmetic, so the tolerance is zero: every weight and every sample
pixel bit for bit equal. The GPU path (``vmap``) sums the same terms in another order; its
gradients must be as close to the exact (float64) ones as today's float32 path is, one step at a
time: over many steps no tolerance holds, as training at the demo's learning rate multiplies any
float difference ~10-100x per step (1e-8 after one step, 1e-2 after six) - as running the network
alone on 2 intra-op threads instead of 1 does.
"""

import copy

import pytest
import pytorch_lightning as pl
import torch
from hydra import initialize_config_dir

from stylaug.data.dataset import ImageFiles, SquareView, square_tensor
from stylaug.data.images import load_rgb
from stylaug.data.index import load_index
from stylaug.models.stylizer import load_stylizer, stylize_batch
from stylaug.models.stylizer_group import (
    GroupSteps,
    StylizerGroup,
    fit_group,
    group_loader,
    group_order,
    load_member_state,
    member_state,
    shuffled_batches,
)
from stylaug.train_stylizer.group_training import train_many
from stylaug.train_stylizer.stage import (
    StylizerPlan,
    build_module,
    probe_images,
    train_stylizer,
)
from tests.conftest import CONF_DIR, TINY_DATASET, compose_cfg

STEPS = 4
# three networks on lists of 40, 10 and 4 images: under one, two and four epochs in four steps
JOBS = [("ocean", "balanced"), ("hot_spring", "biased_case1"), ("desert_sand", "scarce")]
VMAP_RTOL = 1e-4  # vmap's gradient error (relative, per network) that needs no excuse


def job_overrides(root, out, cls, scenario, steps=STEPS):
    return TINY_DATASET + [
        f"paths.root={root}",
        f"class={cls}",
        f"scenario={scenario}",
        "stylizer.image_size=32",
        "stylizer.batch_size=4",
        f"stylizer.max_steps={steps}",
        "stylizer.checkpoint_every=2",
        "stylizer.sample_images=4",
        "stylizer.lr=1e-2",
        "stylizer.content_weight=1e6",
        "stylizer.style_weight=1.5e7",
        "stylizer.tv_weight=1e8",
        "model.transformer.residual_blocks=2",
        "model.loss_net.arch=efficientnet_lite0",
        "model.loss_net.weights=imagenet",
        "logger=none",
        "data.num_workers=0",
        "+trainer.enable_progress_bar=false",
        f"stylizer.out_dir={out}",
    ]


def job_cfg(root, out, cls, scenario):
    return compose_cfg("train_stylizer", job_overrides(root, out, cls, scenario))


def member(cfg):
    """What train_stylizer gives a network before its first step: the same seeding and build,
    and the global RNG state its DataLoader starts from."""
    index = load_index(cfg.dataset)
    plan = StylizerPlan(cfg, cfg["class"], index)
    pl.seed_everything(plan.seed, workers=True)
    module = build_module(cfg, plan)
    rng = torch.get_rng_state()
    size = cfg.stylizer.image_size
    return {
        "net": module.net,
        "loss_net": module.loss_net,
        "styles": [square_tensor(load_rgb(p), size) for p in plan.styles],
        "blend": plan.blend,
        "layers": (plan.content_layers, plan.style_layers),
        "files": ImageFiles([index.abspath(r) for r in plan.images], SquareView(size)),
        "rng": rng,
        "probe": probe_images(index, plan, cfg.stylizer),
    }


def make_group(members, cfg, threads=1):
    s = cfg.stylizer
    content_layers, style_layers = members[0]["layers"]
    return StylizerGroup(
        [copy.deepcopy(m["net"]) for m in members],
        members[0]["loss_net"],
        [m["styles"] for m in members],
        [m["blend"] for m in members],
        content_layers,
        style_layers,
        content_weight=s.content_weight,
        style_weight=s.style_weight,
        tv_weight=s.tv_weight,
        threads=threads,
    )


def group_steps(members, steps=STEPS):
    orders = [shuffled_batches(len(m["files"]), 4, m["rng"]) for m in members]
    return GroupSteps([m["files"] for m in members], group_order(orders, steps))


def mismatches(net, reference, probe) -> list[str]:
    """What differs between two networks: weight tensors by name, and the stylized samples."""
    bad = [
        name
        for (name, a), b in zip(
            net.state_dict().items(), reference.state_dict().values(), strict=True
        )
        if not torch.equal(a, b)
    ]
    with torch.no_grad():
        if not torch.equal(
            stylize_batch(net.eval(), probe), stylize_batch(reference.eval(), probe)
        ):
            bad.append("samples")
    return bad


@pytest.fixture(scope="module")
def trained(tiny_root, tmp_path_factory):
    """The three networks trained alone by train_stylizer, and the same three as group members."""
    out = tmp_path_factory.mktemp("stylizers")
    cfgs = [job_cfg(tiny_root, out, cls, scenario) for cls, scenario in JOBS]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # bitwise results need the same intra-op thread count
    try:
        alone = [load_stylizer(train_stylizer(cfg))[0] for cfg in cfgs]
        members = [member(cfg) for cfg in cfgs]
        assert len({len(m["files"]) for m in members}) == 3  # lists of different lengths
        yield cfgs[0], members, alone, out
    finally:
        torch.set_num_threads(threads)


def test_each_network_of_a_group_matches_the_one_trained_alone(trained):
    cfg, members, alone, _ = trained
    group = make_group(members, cfg, threads=2)
    steps = fit_group(group, group.optimizer(cfg.stylizer.lr), group_loader(group_steps(members)))
    assert steps == STEPS
    for k, m in enumerate(members):
        assert mismatches(group.nets[k], alone[k], m["probe"]) == [], JOBS[k]
        assert mismatches(m["net"], alone[k], m["probe"]) != []  # training moved it: a real test


def test_a_shared_style_gram_or_a_shared_batch_is_caught(trained):
    cfg, members, alone, _ = trained
    steps = group_steps(members)
    group = make_group(members, cfg)
    for name in group.style_layers:  # network 1 gets network 0's style Grams
        grams = getattr(group, f"gram_{name}")
        grams[1] = grams[0]
    steps.order[:, 2] = steps.order[:, 0] % len(members[2]["files"])  # network 2: 0's batches
    steps.members[2] = steps.members[0]
    fit_group(group, group.optimizer(cfg.stylizer.lr), group_loader(steps))
    assert mismatches(group.nets[0], alone[0], members[0]["probe"]) == []
    assert mismatches(group.nets[1], alone[1], members[1]["probe"]) != []
    assert mismatches(group.nets[2], alone[2], members[2]["probe"]) != []


def test_a_killed_group_resumes_from_its_members_in_another_grouping(trained):
    """Stop after 2 steps, keep each network's own state, go on as a differently ordered group
    from step 2 of the same step plan: bitwise the networks of uninterrupted training."""
    cfg, members, alone, _ = trained
    plan = group_steps(members)
    first = make_group(members, cfg)
    opt = first.optimizer(cfg.stylizer.lr)
    fit_group(first, opt, (plan[s] for s in range(2)))  # "killed" after step 2
    saved = [member_state(first, opt, k, step=2) for k in range(len(members))]

    order = [2, 0, 1]  # regrouped: the same networks in another order
    again = make_group([members[k] for k in order], cfg)
    opt2 = again.optimizer(cfg.stylizer.lr)
    for i, k in enumerate(order):
        assert saved[k]["step"] == 2
        load_member_state(again, opt2, i, saved[k])
    rest = GroupSteps([plan.members[k] for k in order], plan.order[:, order])
    fit_group(again, opt2, group_loader(rest, start=2, num_workers=1))
    for i, k in enumerate(order):
        assert mismatches(again.nets[i], alone[k], members[k]["probe"]) == [], JOBS[k]


@pytest.mark.parametrize("workers", [0, 1])
def test_batch_order_is_the_dataloaders(workers):
    """shuffled_batches gives what DataLoader(shuffle, drop_last) gives over several epochs, with
    a new iterator per epoch (no workers) or one persistent iterator (workers)."""
    torch.manual_seed(7)
    rng = torch.get_rng_state()
    loader = torch.utils.data.DataLoader(
        range(10), batch_size=4, shuffle=True, drop_last=True, num_workers=workers,
        persistent_workers=workers > 0,
    )  # fmt: skip
    seen = [b.tolist() for _ in range(4) for b in loader]  # 4 epochs of 2 batches
    order = shuffled_batches(10, 4, rng, persistent_workers=workers > 0)
    assert [next(order) for _ in range(8)] == seen
    assert len({tuple(b) for b in seen}) > 2  # epochs differ


def test_vmap_gives_each_network_its_own_gradient(trained):
    """One step of the GPU path, on CPU: each network's gradient is that of its own loss (exact:
    the loop in float64), as closely as today's float32 arithmetic gets it. That is not 1e-6:
    the encoder convolutions' weight gradients cancel large sums (images in 0-255 units, an
    instance norm after each), and either float32 path is up to ~0.5% off on some batches."""
    cfg, members, _, _ = trained
    images, ok = group_steps(members)[0]
    ok[1, 2] = False  # an unreadable image: masked in vmap, dropped in the loop
    groups = {"exact": make_group(members, cfg).double(), "loop": make_group(members, cfg)}
    groups["vmap"] = make_group(members, cfg)
    groups["vmap"].batched = "vmap"
    losses = {
        name: group.backward(images.double() if name == "exact" else images, ok)
        for name, group in groups.items()
    }

    def gradient(name, k):
        return torch.cat([p.grad.flatten().double() for p in groups[name].nets[k].parameters()])

    for k in range(len(members)):
        exact = gradient("exact", k)
        error = {
            name: (gradient(name, k) - exact).norm() / exact.norm() for name in ("loop", "vmap")
        }
        assert error["vmap"] <= max(2 * error["loop"], VMAP_RTOL), (JOBS[k], error)
        for key in ("content", "style", "tv"):
            assert losses["vmap"][key][k] == pytest.approx(float(losses["exact"][key][k]), rel=1e-5)
    other = gradient("exact", 1)  # the test can fail: another network's gradient is far off
    assert (gradient("vmap", 0) - other).norm() > 0.5 * other.norm()


def test_unreadable_images_drop_out_of_their_own_networks_losses(trained):
    """A bad image (ok=False) leaves its network's losses those of its readable images alone,
    and a network with no readable image gets no gradient (Adam skips it, as alone)."""
    cfg, members, _, _ = trained
    group = make_group(members, cfg)
    torch.manual_seed(0)
    images = torch.rand(3, 4, 3, 32, 32)
    ok = torch.ones(3, 4, dtype=torch.bool)
    ok[1, 2] = False
    ok[2] = False
    losses = group.backward(images, ok)
    with torch.no_grad():
        alone = group.network_losses(1, images[1, [0, 1, 3]])
    for key in ("loss", "content", "style", "tv"):
        assert torch.equal(losses[key][1], alone[key])
    assert losses["loss"][2] == 0
    assert all(p.grad is None for p in group.nets[2].parameters())
    assert all(p.grad is not None for p in group.nets[0].parameters())


# --- through the stage's entry: train_many, as the pipeline calls it ----------------------------


def sweep(root, out, group_size, monkeypatch=None):
    """train_many over JOBS into ``out``: {checkpoint path relative to out: (weights, metadata)}."""
    jobs = [job_overrides(root, out, cls, scenario) for cls, scenario in JOBS]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        paths = train_many(jobs, group_size)
    return {str(p.relative_to(out)): load_stylizer(p) for p in paths}


def test_train_many_in_groups_writes_the_networks_trained_alone(trained, tiny_root, tmp_path):
    """group_size=2 over three jobs: a group of two and a network alone; same file names,
    settings hashes and (bit for bit) weights as the three trained one by one."""
    _, members, alone, out = trained
    grouped = sweep(tiny_root, tmp_path, group_size=2)
    names = sorted(grouped)
    assert names == sorted(
        str(p.relative_to(out)) for p in out.rglob("*.ckpt") if "_train" not in p.parts
    )
    for k, (cls, _) in enumerate(JOBS):
        (name,) = [n for n in names if n.startswith(f"{cls}/")]
        net, meta = grouped[name]
        assert mismatches(net, alone[k], members[k]["probe"]) == [], name
        assert meta["settings_hash"] == load_stylizer(out / name)[1]["settings_hash"]
        assert meta["steps"] == STEPS
    sizes = sorted(grouped[n][1]["compute"].get("group_size", 1) for n in names)
    assert sizes == [1, 2, 2]  # the last network had no partner: it trained alone


def test_a_killed_group_resumes_to_the_uninterrupted_result(
    trained, tiny_root, tmp_path, monkeypatch
):
    """Killed at step 3 (states saved at step 2), rerun: each network resumes from its own saved
    state and ends bit for bit as trained alone without interruption; a third run keeps them."""
    _, members, alone, _ = trained
    calls = {"n": 0}
    backward = StylizerGroup.backward

    def dies_at_step_3(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return backward(self, *args, **kwargs)

    monkeypatch.setattr(StylizerGroup, "backward", dies_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        sweep(tiny_root, tmp_path, group_size=0)
    monkeypatch.setattr(StylizerGroup, "backward", backward)
    assert not [p for p in tmp_path.rglob("*.ckpt") if "_train" not in p.parts]
    saved = sorted(tmp_path.rglob("group_member.pt"))
    assert len(saved) == 3 and all(torch.load(p)["step"] == 2 for p in saved)
    resumed = sweep(tiny_root, tmp_path, group_size=0)
    for k, (cls, _) in enumerate(JOBS):
        (name,) = [n for n in resumed if n.startswith(f"{cls}/")]
        net, meta = resumed[name]
        assert meta["resumed"] and meta["compute"]["group_size"] == 3
        assert mismatches(net, alone[k], members[k]["probe"]) == [], name
    mtimes = [(tmp_path / n).stat().st_mtime_ns for n in resumed]
    sweep(tiny_root, tmp_path, group_size=0)  # finished: kept, not retrained
    assert [(tmp_path / n).stat().st_mtime_ns for n in resumed] == mtimes
