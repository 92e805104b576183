"""``chemaccel gan train|sample|evaluate``: the parallel orthogonal multi-generator GAN on the command line.

``train`` writes a model folder ``-o OUT``; training checkpoints go to ``OUT.work/`` and Ctrl-C leaves a
valid one (``--resume`` continues). ``sample`` writes molecules as SMILES (.smi/.txt) or SDF (.sdf), or
2-D/vector samples as CSV; ``sample --unique -n N`` keeps sampling until N distinct valid molecules (exit
status 1, with what it found written, when the model cannot make that many within ``--max-samples``).
``evaluate --json`` prints one JSON object: for the 2-D mixtures n_modes_captured, high_quality,
reverse_kl; for molecules validity, uniqueness (also at 1,000 and 10,000 samples), novelty, internal
diversity, and with ``--reference`` (a store's test split or a SMILES file) the Frechet ChemNet Distance
and the Wasserstein distances of QED, logP, SA score, weight and heavy-atom count.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from chemaccel.cli.common import eprint, print_json, read_config_file, run_with_progress

EXAMPLES = """\
examples:
  chemaccel gan train --data ring8 -k 8 --steps 5000 -o ring8-k8
  chemaccel gan train --data qm9 --input qm9.h5 -k 4 --steps 20000 -o qm9-gan
  chemaccel gan evaluate resources/models/gan-grid25 --json
  chemaccel gan sample gan-qm9 -n 100 -o molecules.sdf
  chemaccel gan sample gan-qm9 -n 1000 --unique -o distinct.smi
  chemaccel gan evaluate gan-qm9 --reference qm9.h5 --json
"""

TEMPERATURE_HELP = ("molecules: draw each atom and bond type from softmax(scores / T); 0 = the most likely "
                    "type; default: the temperature the model was trained for. Lower = more valid, fewer "
                    "distinct molecules")

MASK_HELP = ("molecules drawn at T > 0: draw each bond only from the types both atoms' remaining valence "
             "can carry, most likely bonds first (default: as the model was saved)")
CONNECT_HELP = ("molecules drawn with valence masks: join a graph's fragments with single bonds where both atoms "
                "have a free valence, the pair the model most wants bonded first (default: as the model was saved)")

_FLAGS = {  # flag dest -> GanConfig field
    "k": "n_generators", "private_layers": "private_layers", "steps": "steps", "batch_size": "batch_size",
    "lr": "lr", "beta1": "beta1", "noise_dim": "noise_dim", "gen_hidden": "gen_hidden", "gen_layers": "gen_layers",
    "disc_hidden": "disc_hidden", "disc_layers": "disc_layers", "classifier_weight": "classifier_weight",
    "ortho_weight": "ortho_weight", "ortho_on": "ortho_on", "max_atoms": "max_atoms", "n_train": "n_train",
    "eval_samples": "eval_samples", "checkpoint_every": "checkpoint_every",
    "diversity_weight": "diversity_weight", "graph_sampling": "graph_sampling",
    "connectivity_weight": "connectivity_weight", "gumbel_tau": "gumbel_tau",
    "novelty_weight": "novelty_weight", "repeat_memory": "repeat_memory", "valence_weight": "valence_weight",
    "sample_temperature": "sample_temperature", "decode_temperature": "decode_temperature",
    "valence_mask": "valence_mask", "connect_fragments": "connect_fragments",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gan", help="parallel orthogonal multi-generator GAN (toys, vectors, QM9 graphs)",
                       description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="verb", metavar="<verb>", required=True)

    t = verbs.add_parser("train", help="train K generators; writes a model folder", epilog=EXAMPLES,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--data", choices=["ring8", "grid25", "vectors", "qm9"], required=True)
    t.add_argument("--input", help="vectors: .npy/.csv (n, d); qm9: a molecule store (.h5) or a SMILES file")
    t.add_argument("-k", "--generators", dest="k", type=int, help="number of generators K (1 = plain GAN)")
    t.add_argument("--private-layers", type=int, help="leading generator layers each generator owns")
    for flag, typ in (("steps", int), ("batch-size", int), ("lr", float), ("beta1", float), ("noise-dim", int),
                      ("gen-hidden", int), ("gen-layers", int), ("disc-hidden", int), ("disc-layers", int),
                      ("classifier-weight", float), ("ortho-weight", float), ("max-atoms", int), ("n-train", int),
                      ("eval-samples", int), ("checkpoint-every", int), ("diversity-weight", float)):
        t.add_argument(f"--{flag}", type=typ)
    t.add_argument("--connectivity-weight", type=float,
                   help="qm9: weight of the term that penalizes graphs decoding to several fragments "
                        "(0 = off)")
    t.add_argument("--novelty-weight", type=float,
                   help="qm9: weight of the learnt novelty critic's penalty on invalid or training "
                        "molecules (0 = off; costs an rdkit decode of each step's samples)")
    t.add_argument("--repeat-memory", type=int,
                   help="qm9, with the novelty critic: it also penalizes molecules among the last N made "
                        "(a reward for molecules not yet produced, against mode collapse; 0 = off)")
    t.add_argument("--valence-weight", type=float,
                   help="qm9: weight of the term that penalizes bonds beyond an atom's valence (0 = off)")
    t.add_argument("--sample-temperature", type=float, metavar="T",
                   help="qm9: draw graphs from softmax(scores / T), in training and sampling (0 = argmax "
                        "decoding, which collapses onto few molecules)")
    t.add_argument("--decode-temperature", type=float, metavar="T",
                   help="qm9: sample at this temperature instead (0 = --sample-temperature)")
    t.add_argument("--valence-mask", action=argparse.BooleanOptionalAction, help=MASK_HELP)
    t.add_argument("--connect-fragments", action=argparse.BooleanOptionalAction, help=CONNECT_HELP)
    t.add_argument("--gumbel-tau", type=float, help="qm9: temperature of the straight-through Gumbel-softmax")
    t.add_argument("--ortho-on", choices=["features", "outputs", "weights"])
    t.add_argument("--graph-sampling", choices=["gumbel", "argmax"],
                   help="qm9: how training makes one-hot graphs (straight-through Gumbel draw or argmax)")
    t.add_argument("--placement", help="model parallelism: devices for generator groups, e.g. cuda:0,cuda:1")
    t.add_argument("--config", help="JSON file with further GanConfig fields (flags win)")
    t.add_argument("-o", "--out", required=True, help="model folder to write")
    t.add_argument("--resume", action="store_true", help="continue from OUT.work/ checkpoints")
    t.add_argument("--json", action="store_true", help="print the final metrics as one JSON object")
    t.set_defaults(func=_train)

    s = verbs.add_parser("sample", help="generate samples: SMILES/SDF for molecules, CSV otherwise")
    s.add_argument("model", help="a GAN model folder or a shipped model's name")
    s.set_defaults(folder_args=("model",))
    s.add_argument("-n", type=int, default=100, help="number of samples (default 100)")
    s.add_argument("--unique", action="store_true",
                   help="molecules: -n counts distinct valid molecules; sample until there are that many "
                        "(exit status 1, with what was found written, when the model cannot make them "
                        "within --max-samples)")
    s.add_argument("--temperature", type=float, metavar="T", help=TEMPERATURE_HELP)
    s.add_argument("--valence-mask", action=argparse.BooleanOptionalAction, help=MASK_HELP)
    s.add_argument("--connect-fragments", action=argparse.BooleanOptionalAction, help=CONNECT_HELP)
    s.add_argument("--max-samples", type=int,
                   help="with --unique: the most samples to draw (default 20 x N)")
    s.add_argument("-o", "--out", required=True, help=".smi/.txt or .sdf (molecules); .csv (vectors)")
    s.set_defaults(func=_sample)

    e = verbs.add_parser("evaluate", help="mode metrics (toys) or validity/uniqueness/novelty (molecules)")
    e.add_argument("model", help="a GAN model folder or a shipped model's name")
    e.set_defaults(folder_args=("model",))
    e.add_argument("-n", type=int, help="number of samples (default: the model's eval_samples)")
    e.add_argument("--temperature", type=float, metavar="T", help=TEMPERATURE_HELP)
    e.add_argument("--valence-mask", action=argparse.BooleanOptionalAction, help=MASK_HELP)
    e.add_argument("--connect-fragments", action=argparse.BooleanOptionalAction, help=CONNECT_HELP)
    e.add_argument("--reference", metavar="PATH",
                   help="molecules: reference set for the distribution metrics (Frechet ChemNet Distance, "
                        "Wasserstein distances of QED, logP, SA score, weight, heavy atoms): a molecule store "
                        "(.h5, its test split) or a SMILES file (first column)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=_evaluate)


def _train(args: argparse.Namespace) -> int:
    from chemaccel import api
    from chemaccel.runtime import is_main_process

    extra: dict[str, Any] = read_config_file(args.config)
    fields = {**extra, "data": args.data}
    for dest, name in _FLAGS.items():
        value = getattr(args, dest)
        if value is not None:
            fields[name] = value
    if args.placement:
        fields["placement"] = [d for d in args.placement.split(",") if d]
    if args.data == "qm9" and "eval_samples" not in fields:
        fields["eval_samples"] = 10000
    config = api.GanConfig.from_dict(fields)
    data = _read_input(args.data, args.input)
    out = Path(args.out)
    work = out.with_name(out.name + ".work")
    runtime = api.RuntimeConfig(device=args.device, seed=args.seed)
    result = run_with_progress(lambda reporter: api.train_gan(config, data, reporter, runtime=runtime,
                                                              checkpoint_dir=work, resume=args.resume))
    if result.status == "cancelled":
        eprint(f"chemaccel: cancelled at step {result.steps}; resume with the same command and --resume "
               f"(checkpoint in {work})")
        return 130
    if not is_main_process():
        return 0  # process 0 writes the model under torchrun
    api.save_gan_result(out, result)
    if result.status == "diverged":
        eprint(f"chemaccel: {result.reason}; saved the last good state to {out}")
    if args.json:
        print_json({"status": result.status, "steps": result.steps, "out": str(out), **result.metrics})
    else:
        print(f"{result.status}: {result.reason}")
        print("  " + ", ".join(f"{k}={_fmt(v)}" for k, v in _scalars(result.metrics).items()))
        print(f"saved {out}")
    return 1 if result.status == "diverged" else 0


def _read_input(kind: str, path: str | None) -> Any:
    import numpy as np

    from chemaccel.errors import ConfigError, InputError

    if kind in ("ring8", "grid25"):
        if path:
            raise ConfigError(f"--data {kind} is generated; --input is not used")
        return None
    if not path:
        raise ConfigError(f"--data {kind} needs --input")
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "no such file")
    if kind == "vectors":
        try:
            if p.suffix.lower() == ".npy":
                return np.load(p, allow_pickle=False)
            return np.loadtxt(p, delimiter="," if p.suffix.lower() == ".csv" else None, ndmin=2)
        except (OSError, ValueError) as exc:
            raise InputError(p, f"cannot read vectors ({' '.join(str(exc).split())})") from None
    if p.suffix.lower() in (".h5", ".hdf5"):
        return p
    lines = p.read_text(encoding="utf-8").splitlines()
    return [ln.split()[0] for ln in lines if ln.strip() and not ln.startswith("#")]


def _load(args: argparse.Namespace) -> Any:
    """The GAN model folder of ``args.model`` on the device asked for (another engine's folder is an error)."""
    from chemaccel import api

    from chemaccel.errors import ConfigError

    api.expect_engine(api.read_model_info(args.model), "gan", args.model)
    model = api.load_model(args.model, args.torch_device)
    temperature = getattr(args, "temperature", None)
    if temperature is not None:
        if model.spec.kind != "qm9":
            raise ConfigError(f"--temperature applies to molecule models, not {model.spec.kind!r} samples")
        if not temperature >= 0 or temperature == float("inf"):
            raise ConfigError(f"--temperature must be a finite number >= 0, got {temperature}")
        model.sample_temperature = temperature
    mask = getattr(args, "valence_mask", None)
    if mask is not None:
        if model.spec.kind != "qm9":
            raise ConfigError(f"--valence-mask applies to molecule models, not {model.spec.kind!r} samples")
        model.valence_mask = mask
    connect = getattr(args, "connect_fragments", None)
    if connect is not None:
        if model.spec.kind != "qm9":
            raise ConfigError(f"--connect-fragments applies to molecule models, not {model.spec.kind!r} samples")
        if connect and not model.valence_mask:
            raise ConfigError("--connect-fragments joins valence-masked draws: the model samples without "
                              "valence masks (add --valence-mask)")
        model.connect_fragments = connect
    return model


def _sample(args: argparse.Namespace) -> int:
    from chemaccel.errors import ConfigError
    if args.n < 1:
        raise ConfigError(f"-n must be at least 1, got {args.n}")
    model = _load(args)
    out = Path(args.out)
    suffix = out.suffix.lower()
    if args.max_samples is not None and (not args.unique or args.max_samples < 1):
        raise ConfigError("--max-samples goes with --unique and must be at least 1")
    if model.spec.kind == "qm9":
        if suffix not in (".sdf", ".smi", ".txt", ".smiles"):
            raise ConfigError(f"{out}: write molecules as .smi/.txt (SMILES) or .sdf")
        if args.unique:
            from tqdm import tqdm

            with tqdm(total=args.n, unit="mol", desc="distinct valid molecules", disable=None) as bar:
                def progress(found: int, drawn: int) -> None:
                    bar.n = found
                    bar.set_postfix(samples=f"{drawn:,}")

                valid, drawn = model.unique_smiles(args.n, seed=args.seed, max_samples=args.max_samples,
                                                   on_progress=progress)
        else:
            valid = [s for s in model.sample_smiles(args.n, seed=args.seed) if s]
        if suffix == ".sdf":
            _write_sdf(out, valid)
        else:
            out.write_text("".join(f"{s}\n" for s in valid), encoding="utf-8")
        if not args.unique:
            print(f"wrote {len(valid)} valid molecules of {args.n} samples to {out}")
            return 0
        if len(valid) < args.n:
            print(f"chemaccel: error: {args.model}: the model made only {len(valid):,} distinct valid molecules in "
                  f"{drawn:,} samples, not the {args.n:,} asked for; wrote those {len(valid):,} to {out}",
                  file=sys.stderr)
            return 1
        print(f"wrote {len(valid):,} distinct valid molecules ({drawn:,} samples) to {out}")
        return 0
    if args.unique:
        raise ConfigError(f"--unique applies to molecule models, not {model.spec.kind!r} samples")
    if suffix != ".csv":
        raise ConfigError(f"{out}: {model.spec.kind} samples are written as .csv")
    samples, ids = model.generate(args.n, seed=args.seed)
    cols = ",".join(f"x{i}" for i in range(samples.shape[1]))
    rows = [",".join(f"{v:.6g}" for v in row) + f",{int(g)}" for row, g in zip(samples.tolist(), ids.tolist())]
    out.write_text(f"{cols},generator\n" + "\n".join(rows) + "\n", encoding="utf-8")
    print(f"wrote {args.n} samples to {out}")
    return 0


def _write_sdf(path: Path, smiles: list[str]) -> None:
    from rdkit import Chem

    writer = Chem.SDWriter(str(path))
    try:
        for i, smi in enumerate(smiles):
            mol = Chem.MolFromSmiles(smi)
            if mol is None:
                continue
            mol.SetProp("_Name", f"gan-{i + 1}")
            mol.SetProp("SMILES", smi)
            writer.write(mol)
    finally:
        writer.close()


def _evaluate(args: argparse.Namespace) -> int:
    model = _load(args)
    from chemaccel import api

    reference = None
    if args.reference is not None:
        if model.spec.kind != "qm9":
            from chemaccel.errors import ConfigError
            raise ConfigError(f"--reference applies to molecule models, not {model.spec.kind!r} samples")
        reference = api.read_reference_molecules(Path(args.reference))
    metrics = model.evaluate(args.n, seed=args.seed, reference=reference, distribution=model.spec.kind == "qm9")
    metrics = {"model": str(args.model), "n_generators": model.config.n_generators, **metrics}
    if args.json:
        print_json(metrics)
    else:
        for key, value in metrics.items():
            print(f"{key}: {_fmt(value)}")
    return 0


def _scalars(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
