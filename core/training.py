"""THE training engine: every task model of the suite is fitted here.

Sequence and token tasks use :class:`FTTrainer`, a thin ``transformers.Trainer`` subclass that adds
class weights, label smoothing and layer-wise learning rates. Sentence embeddings use
sentence-transformers' ``SentenceTransformerTrainer`` (itself a ``transformers.Trainer``). Apps
supply data and a config; none writes its own loop.
"""

from __future__ import annotations

import logging
import random
import re
import shutil
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from .artifacts import library_versions, model_card, now_utc, read_manifest, staged_artifact, write_manifest
from .basemodels import resolve_base
from .config import ExperimentConfig, config_to_dict
from .data import Examples, fingerprint, load_examples, load_unlabelled, unseen
from .errors import ConfigError, DataError
from .evaluation import confusion_png, evaluate_predictor, format_report
from .tasks import add_case_markers, get_task, uses_case_markers

__all__ = ["train_model", "FTTrainer", "apply_strategy", "TrainResult"]

log = logging.getLogger("ftsuite.training")

_LAYER = re.compile(r"\.layers?\.(\d+)\.")


def _trainer_class():
    import torch
    from transformers import Trainer

    class _FTTrainer(Trainer):
        """``transformers.Trainer`` plus class weights, label smoothing, layer-wise learning rates and
        distillation from a teacher's logits."""

        def __init__(self, *args, class_weights=None, label_smoothing: float = 0.0,
                     layerwise_lr_decay: float = 1.0, head_learning_rate: float | None = None,
                     distill=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.distill = distill
            self.class_weights = class_weights
            self.label_smoothing = label_smoothing
            self.layerwise_lr_decay = layerwise_lr_decay
            self.head_learning_rate = head_learning_rate

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            teacher = inputs.pop("teacher_logits", None)  # only training rows carry it
            if self.class_weights is None and not self.label_smoothing and teacher is None:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            logits = outputs.logits  # (B, C) or (B, T, C)
            weight = self.class_weights.to(logits.device, logits.dtype) if self.class_weights is not None else None
            if (labels != -100).any():
                loss = torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), weight=weight,
                    ignore_index=-100, label_smoothing=self.label_smoothing,
                )
            else:  # a batch of unlabelled transfer rows only: the teacher term alone (the mean would be NaN)
                loss = logits.sum() * 0.0
            if teacher is not None:  # present only when train.distill names a teacher
                t, alpha = self.distill.temperature, self.distill.alpha
                soft = torch.nn.functional.kl_div(
                    torch.log_softmax(logits / t, dim=-1), torch.log_softmax(teacher.to(logits) / t, dim=-1),
                    reduction="batchmean", log_target=True,
                )
                loss = alpha * (t * t) * soft + (1.0 - alpha) * loss  # T^2 keeps the gradient scale
            return (loss, outputs) if return_outputs else loss

        def _set_signature_columns_if_needed(self):
            super()._set_signature_columns_if_needed()
            if "teacher_logits" not in self._signature_columns:
                self._signature_columns.append("teacher_logits")  # else the Trainer drops it before the loss

        def create_optimizer(self, model=None):
            if self.optimizer is not None or (self.layerwise_lr_decay == 1.0 and self.head_learning_rate is None):
                return super().create_optimizer(model)
            model = self.model if model is None else model
            decay_names = set(self.get_decay_parameter_names(model))
            n_layers = _count_layers(model)
            base_lr = self.args.learning_rate
            groups: dict[tuple[float, float], list] = {}
            for name, param in model.named_parameters():
                if not param.requires_grad:
                    continue
                depth = _depth_from_top(name, n_layers)  # 0 = head/top layer, n_layers = embeddings
                if depth is None:
                    lr = self.head_learning_rate or base_lr
                else:
                    lr = base_lr * (self.layerwise_lr_decay ** depth)
                wd = self.args.weight_decay if name in decay_names else 0.0
                groups.setdefault((lr, wd), []).append(param)
            param_groups = [{"params": p, "lr": lr, "weight_decay": wd} for (lr, wd), p in groups.items()]
            self.optimizer = torch.optim.AdamW(param_groups, lr=base_lr,
                                               betas=(self.args.adam_beta1, self.args.adam_beta2),
                                               eps=self.args.adam_epsilon)
            return self.optimizer

    return _FTTrainer


def FTTrainer(*args, **kwargs):  # noqa: N802 - a factory that reads like the class it builds
    """Build the suite's ``Trainer`` subclass (imported lazily so that ``core`` imports fast)."""
    return _trainer_class()(*args, **kwargs)


def _count_layers(model) -> int:
    found = [int(m.group(1)) for n, _ in model.named_parameters() if (m := _LAYER.search(n))]
    return max(found) + 1 if found else 0


def _depth_from_top(name: str, n_layers: int) -> int | None:
    """How many layers below the top a parameter sits; None for the task head and pooler."""
    match = _LAYER.search(name)
    if match:
        return n_layers - 1 - int(match.group(1))
    if "embeddings" in name:
        return n_layers
    return None


def apply_strategy(model, config, task_name: str):
    """Make only the weights the strategy trains require gradients; returns the model to train."""
    strategy = config.strategy
    if strategy == "full":
        return model
    if strategy == "top_layers":
        n_layers = _count_layers(model)
        keep_from = n_layers - config.top_layers
        for name, param in model.named_parameters():
            match = _LAYER.search(name)
            if match:
                param.requires_grad = int(match.group(1)) >= keep_from
            elif "embeddings" in name:
                param.requires_grad = False
        return model
    if task_name == "sentence_embedding":
        raise ConfigError("train.strategy = 'lora' is not available for sentence_embedding; use full or top_layers")
    from peft import LoraConfig, TaskType, get_peft_model

    peft_config = LoraConfig(
        task_type=TaskType.TOKEN_CLS if task_name == "token_classification" else TaskType.SEQ_CLS,
        r=config.lora.r, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
        target_modules=list(config.lora.target_modules),
    )
    try:
        return get_peft_model(model, peft_config)
    except ValueError as exc:
        names = sorted({n.split(".")[-1] for n, m in model.named_modules() if n})
        raise ConfigError(f"LoRA could not wrap the model ({exc}). train.lora.target_modules must name "
                          f"modules of this base; some of its modules: {names[:30]}") from exc


def _class_weights(train: Examples, labels: list[str], setting, task_name: str):
    import torch

    if setting == "none":
        return None
    if isinstance(setting, dict):
        unknown = sorted(set(setting) - set(labels))
        if unknown:
            raise ConfigError(f"train.class_weights names unknown labels {unknown}; labels are {labels}")
        return torch.tensor([float(setting.get(l, 1.0)) for l in labels])
    flat = [t for seq in train.labels for t in seq] if task_name == "token_classification" else train.labels
    counts = np.array([max(1, sum(1 for y in flat if y == l)) for l in labels], dtype=np.float64)
    weights = counts.sum() / (len(labels) * counts)  # sklearn's "balanced"
    return torch.tensor(weights, dtype=torch.float32)


def _precision_flags(setting: str) -> dict:
    import torch

    if setting == "fp32" or not torch.cuda.is_available():
        if setting in ("fp16", "bf16") and not torch.cuda.is_available():
            log.warning("train.precision = %s needs a GPU; training in fp32 on the CPU", setting)
        return {}
    if setting == "auto":
        setting = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return {setting: True}


class TrainResult(dict):
    """The manifest of the artifact just written, with its ``path``."""

    @property
    def path(self) -> Path:
        return Path(self["path"])


def train_model(config: ExperimentConfig, output: str | Path | None = None, parent: str | Path | None = None,
                progress: bool | None = None) -> TrainResult:
    """Fit a task model and write its artifact. ``parent`` continues from an existing artifact."""
    import torch
    from transformers import set_seed

    task = get_task(config.task)
    t_cfg = config.train
    output = Path(output) if output else config.output_dir()
    parent_manifest = read_manifest(parent) if parent else None
    if parent_manifest and parent_manifest["task"] != config.task:
        raise ConfigError(f"--from {parent} is a {parent_manifest['task']} model, but the config trains "
                          f"{config.task}; use an artifact of the same task")

    # 1. data: load, validate, de-duplicate, split
    fixed_labels = parent_manifest["labels"] if parent_manifest else None
    splits, data_summary = load_examples(config.data, config.task, resolve=config.path, labels=fixed_labels)
    labels = data_summary["labels"]
    if task.name != "sentence_embedding" and len(labels) < 2:
        raise ConfigError(f"the training data has {len(labels)} label(s) {labels}; a classifier needs two or more")
    log.info("data %s", data_summary["sizes"])

    # 2. model: base (or parent) + task head + strategy
    set_seed(t_cfg.seed)
    if parent_manifest:
        base_path = str(Path(parent) / "model")
        base_info = {**parent_manifest["base_model"], "continued_from": str(parent)}
    else:
        base_path = resolve_base(config.model.base, config.model.allow_download)
        base_info = {"name": config.model.base, "path": base_path}
    work_dir = output.with_name(f".{output.name}.work")
    if work_dir.exists() and not t_cfg.resume:
        shutil.rmtree(work_dir)
    started = time.time()
    if task.name == "sentence_embedding":
        model, trainer = _embedding_trainer(config, base_path, splits, work_dir, progress)
        tokenizer = None
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(base_path)
        if parent_manifest:
            model = task.load_model(base_path)
        else:
            model = task.build_model(base_path, labels, config.model.dropout)
        if config.model.case_markers:
            add_case_markers(tokenizer, model)
        model = apply_strategy(model, t_cfg, task.name)
        trainer = _task_trainer(config, task, model, tokenizer, splits, labels, work_dir, progress)
    if not (t_cfg.progress if progress is None else progress):
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # quiet means no per-evaluation dicts either
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in trainer.model.parameters())
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()

    # 3. fit, resuming from the last checkpoint when asked and one exists
    # a checkpoint is complete once its trainer_state.json exists (the Trainer writes it last)
    checkpoints = sorted((p.parent for p in work_dir.glob("checkpoint-*/trainer_state.json")),
                         key=lambda p: int(p.name.split("-")[-1]))
    resumed_from = checkpoints[-1] if (t_cfg.resume and checkpoints) else None
    train_output = trainer.train(resume_from_checkpoint=str(resumed_from) if resumed_from else None)
    wall = time.time() - started
    history = [h for h in trainer.state.log_history if "loss" in h or "eval_loss" in h]

    # 4. write the artifact, then score it as saved (the same path users load)
    with staged_artifact(output) as stage:
        model_dir = stage / "model"
        final = trainer.model
        if t_cfg.strategy == "lora":
            final = final.merge_and_unload()  # a plain model: no peft needed to load or export it
        if task.name == "sentence_embedding":
            final.save(str(model_dir))
        else:
            final.save_pretrained(model_dir, safe_serialization=True)
            tokenizer.save_pretrained(model_dir)
        manifest = {
            "format_version": 1,
            "name": config.name,
            "task": config.task,
            "labels": labels,
            "base_model": base_info,
            "max_length": config.model.max_length,
            "case_markers": bool(tokenizer is not None and uses_case_markers(tokenizer)),
            "data": data_summary,
            "training": {
                "strategy": t_cfg.strategy,
                "trainable_parameters": trainable,
                "total_parameters": total,
                "wall_seconds": round(wall, 1),
                "epochs_run": round(float(trainer.state.epoch or 0), 2),
                "global_steps": int(train_output.global_step),
                "resumed_from": resumed_from.name if resumed_from else None,
                "best_checkpoint_metric": trainer.state.best_metric,
                "peak_memory_mb": _peak_memory_mb(),
                "device": "cuda" if torch.cuda.is_available() else "cpu",
                "history": history[-200:],
                **({"distill": trainer.ftsuite_distill} if getattr(trainer, "ftsuite_distill", None) else {}),
            },
            "config": config_to_dict(replace(config, base_dir="")),
            "metrics": {},
            "versions": library_versions(),
            "created_at": now_utc(),
        }
        if parent_manifest:
            manifest["parent"] = {"path": str(parent), "fingerprint": parent_manifest["data"].get("fingerprint"),
                                  "created_at": parent_manifest.get("created_at")}
        write_manifest(stage, manifest)
        from .inference import load_predictor

        predictor = load_predictor(stage, backend="torch")
        reports = []
        for split in ("validation", "test"):
            if split in splits:
                metrics = evaluate_predictor(predictor, splits[split])
                manifest["metrics"][split] = metrics
                reports.append(format_report(metrics, f"{config.name}: {split} ({len(splits[split])} examples)"))
                if split == "test" and "confusion_matrix" in metrics:
                    confusion_png(metrics["confusion_matrix"], metrics["labels"], stage / "confusion.png",
                                  f"{config.name} (test)")
        (stage / "report.txt").write_text("\n\n".join(reports) + "\n", encoding="utf-8")
        write_manifest(stage, manifest)
        (stage / "README.md").write_text(model_card(manifest), encoding="utf-8")
    shutil.rmtree(work_dir, ignore_errors=True)
    return TrainResult(manifest, path=str(output))


def _peak_memory_mb() -> float:
    import resource

    import torch

    if torch.cuda.is_available():
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # process peak RSS


def _common_args(config: ExperimentConfig, work_dir: Path, has_validation: bool, progress, metric: str,
                 greater: bool, n_train: int) -> dict:
    t = config.train
    steps_per_epoch = -(-n_train // (t.batch_size * t.gradient_accumulation))
    total_steps = t.max_steps if t.max_steps > 0 else int(t.epochs * steps_per_epoch)
    eval_strategy = ("steps" if t.eval_every else "epoch") if has_validation else "no"
    args = dict(
        output_dir=str(work_dir),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        learning_rate=t.learning_rate,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation,
        weight_decay=t.weight_decay,
        warmup_steps=t.warmup_ratio,  # below 1 it is a share of the steps
        lr_scheduler_type=t.scheduler,
        optim="adamw_torch",
        seed=t.seed,
        data_seed=t.seed,
        eval_strategy=eval_strategy,
        save_strategy=eval_strategy if has_validation else "no",
        save_total_limit=1,
        load_best_model_at_end=has_validation,
        metric_for_best_model=metric if has_validation else None,
        greater_is_better=greater if has_validation else None,
        logging_strategy="steps",
        logging_steps=max(1, min(50, total_steps // 10)),  # about ten loss points per run at least
        report_to="none",
        disable_tqdm=not (t.progress if progress is None else progress),
        dataloader_num_workers=0,
        dataloader_pin_memory=_cuda(),
        **_precision_flags(t.precision),
    )
    if t.eval_every and has_validation:
        args["eval_steps"] = t.eval_every
        args["save_steps"] = t.eval_every
    return args


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _callbacks(config: ExperimentConfig, has_validation: bool) -> list:
    from transformers import EarlyStoppingCallback

    if has_validation and config.train.early_stopping_patience:
        return [EarlyStoppingCallback(early_stopping_patience=config.train.early_stopping_patience)]
    return []


def _task_trainer(config, task, model, tokenizer, splits, labels, work_dir, progress):
    from transformers import TrainingArguments

    t = config.train
    max_length = config.model.max_length
    train_rows = task.encode(tokenizer, splits["train"], labels, max_length)
    distill = t.distill if t.distill.enabled else None
    distill_summary = None
    if distill:
        teachers = _teachers(config, task, splits, labels)
        transfer = _transfer_examples(config, task, splits)
        augmented = _augmented_examples(splits, distill.augment, t.seed, transfer)
        scored = splits["train"]
        for extra in (transfer, augmented):
            if extra is not None:  # rows with the teacher term only
                scored = scored.concat(extra)  # one pass per teacher over everything
                enc = task.tokenize(tokenizer, extra.texts, extra.pairs, max_length)
                train_rows += [{**{k: enc[k][i] for k in enc.keys()}, "labels": -100} for i in range(len(extra))]
        for row, logits in zip(train_rows, _teacher_log_probs(teachers, scored, labels)):
            row["teacher_logits"] = logits
        distill_summary = {"teachers": [str(p) for p in teachers],
                           "transfer_rows": len(transfer) if transfer is not None else 0}
        if augmented is not None:
            distill_summary["augmented_rows"] = len(augmented)
    val_rows = task.encode(tokenizer, splits["validation"], labels, max_length) if "validation" in splits else None
    metric = t.metric
    if task.name == "token_classification" and metric in ("macro_f1", "accuracy", "weighted_f1"):
        metric = "f1"
    known = ({"precision", "recall", "f1", "loss"} if task.name == "token_classification" else
             {"accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall", "weighted_precision",
              "weighted_recall", "loss"})
    if metric not in known:
        raise ConfigError(f"train.metric = {t.metric!r} is not reported for {task.name}; use one of {sorted(known)}")
    args = TrainingArguments(**_common_args(config, work_dir, val_rows is not None, progress, metric,
                                            metric != "loss", len(train_rows)),
                             train_sampling_strategy="group_by_length" if t.group_by_length else "random")
    trainer = FTTrainer(
        model=model,
        args=args,
        train_dataset=train_rows,
        eval_dataset=val_rows,
        data_collator=task.collator(tokenizer),
        processing_class=tokenizer,
        compute_metrics=task.trainer_metrics(labels),
        callbacks=_callbacks(config, val_rows is not None),
        class_weights=_class_weights(splits["train"], labels, t.class_weights, task.name),
        label_smoothing=t.label_smoothing,
        layerwise_lr_decay=t.layerwise_lr_decay,
        head_learning_rate=t.head_learning_rate,
        distill=distill,
    )
    trainer.ftsuite_distill = distill_summary  # recorded in the manifest
    return trainer


def _teachers(config, task, splits: dict[str, Examples], labels: list[str]) -> list[Path]:
    """The teacher artifacts, each checked: same task, same labels, same data and splits."""
    found = []
    ours = fingerprint(splits)
    for name in config.train.distill.teachers:
        teacher = config.path(name)
        if teacher is None or not (teacher / "manifest.json").is_file():
            raise ConfigError(f"train.distill.teacher {name!r} is not an artifact folder (no manifest.json). Fix: "
                              "train the teacher first, e.g. `ftsuite train configs/<teacher>.toml --set "
                              "model.base=mpnet --output DIR`, and name DIR")
        manifest = read_manifest(teacher)
        if task.name not in ("text_classification", "pair_scoring") or manifest["task"] != task.name:
            raise ConfigError(f"distillation needs a text_classification or pair_scoring student and a teacher "
                              f"of the same task; the student is {task.name}, the teacher ({teacher}) "
                              f"{manifest['task']}")
        if manifest["labels"] != labels:
            raise ConfigError(f"the teacher {teacher} predicts {manifest['labels']}, the student {labels}; "
                              "train both on the same labels")
        theirs = manifest["data"].get("fingerprint")
        if theirs != ours:
            # another split could hold the student's test sentences in the teacher's training part
            raise ConfigError(f"the teacher {teacher} was trained on other data or splits (data fingerprint "
                              f"{theirs} vs {ours}). Fix: train the teacher with the student's [data] table")
        found.append(teacher)
    return found


def _teacher_log_probs(teachers: list[Path], examples: Examples, labels: list[str]) -> list[list[float]]:
    """The teachers' mean probabilities, as logs (log p is a logit up to a constant)."""
    from .inference import load_predictor

    total = np.zeros((len(examples), len(labels)), dtype=np.float64)
    for teacher in teachers:
        log.info("distillation: teacher %s scores %d examples", teacher, len(examples))
        predictions = load_predictor(teacher, backend="torch").predict(examples.texts, examples.pairs)
        total += np.array([[p["scores"][l] for l in labels] for p in predictions], dtype=np.float64)
    return np.log(np.clip(total / len(teachers), 1e-12, 1.0)).astype(np.float32).tolist()


def _transfer_examples(config, task, splits: dict[str, Examples]) -> Examples | None:
    """``train.distill.transfer``: unlabelled texts for the teachers to label, minus repeats (also across
    files), training texts and every validation or test text (the student must not learn a test answer
    from them)."""
    known = {k for part in splits.values() for k in part.keys()}
    transfer = None
    for name in config.train.distill.transfers:
        path = config.path(name)
        texts, dropped = load_unlabelled(path, task.name, known)
        log.info("distillation: %d transfer texts from %s (%d dropped: repeats, or texts of the data)",
                 len(texts), path, dropped)
        if not len(texts):
            raise DataError([(str(path), None, "text", "no transfer text is left after dropping repeats and the "
                                                       "texts of the training data")], fix="name a file of other texts")
        known |= set(texts.keys())
        transfer = texts if transfer is None else transfer.concat(texts)
    return transfer


def perturb(text: str, rng: random.Random, vocabulary: list[str], p: float = 0.1) -> str:
    """One noisy copy of ``text``: each word dropped with probability ``p`` or replaced (``p``) by a word
    of ``vocabulary``, then one pair of neighbours swapped half of the time."""
    words = text.split()
    out = []
    for word in words:
        r = rng.random()
        if r < p:
            continue
        out.append(rng.choice(vocabulary) if r < 2 * p and vocabulary else word)
    if not out:
        out = [rng.choice(words)]
    if len(out) > 2 and rng.random() < 0.5:
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    return " ".join(out)


def _augmented_examples(splits: dict[str, Examples], copies: int, seed: int,
                        transfer: Examples | None) -> Examples | None:
    """``train.distill.augment``: ``copies`` perturbed copies of each training text (the second text of a
    pair is kept), minus repeats and any copy that equals a text of the data or of the transfer set."""
    if not copies:
        return None
    train = splits["train"]
    counts = Counter(w for text in train.texts for w in set(text.lower().split()))
    # words of three or more training texts: content words as well as function words, no one-off names
    vocabulary = sorted(w for w, n in counts.items() if n >= 3 and any(c.isalpha() for c in w))
    rng = random.Random(seed)
    rows = [i for i in range(len(train)) for _ in range(copies)]
    perturbed = replace(train.subset(rows), texts=[perturb(train.texts[i], rng, vocabulary) for i in rows],
                        labels=[None] * len(rows))
    known = {k for part in splits.values() for k in part.keys()} | set(transfer.keys() if transfer else [])
    kept, _ = unseen(perturbed, known)
    log.info("distillation: %d perturbed copies of %d training texts", len(kept), len(train))
    return kept


def _embedding_trainer(config, base_path, splits, work_dir, progress):
    """(anchor, positive) pairs with in-batch negatives (MultipleNegativesRankingLoss), and a hard negative
    per pair when ``data.negative_column`` names one."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers, SentenceTransformerTrainingArguments

    def as_dataset(examples: Examples):
        if examples.pairs is None:
            raise ConfigError("sentence_embedding trains on pairs: set data.text_pair_column")
        columns = {"anchor": list(examples.texts), "positive": list(examples.pairs)}
        if examples.negatives is not None:  # a hard negative per row, beside the in-batch ones
            columns["negative"] = list(examples.negatives)
        return Dataset.from_dict(columns)

    model = SentenceTransformer(base_path, device="cpu")
    model.max_seq_length = config.model.max_length
    apply_strategy(model, config.train, "sentence_embedding")
    has_val = "validation" in splits
    args = SentenceTransformerTrainingArguments(
        **_common_args(config, work_dir, has_val, progress, "loss", False, len(splits["train"])),
        batch_sampler=BatchSamplers.NO_DUPLICATES,
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=args,
        train_dataset=as_dataset(splits["train"]),
        eval_dataset=as_dataset(splits["validation"]) if has_val else None,
        loss=MultipleNegativesRankingLoss(model),
        callbacks=_callbacks(config, has_val),
    )
    return model, trainer
