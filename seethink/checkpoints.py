"""Tiny random-weight checkpoints of the real architectures, built locally.

The CPU profile and the tests serve these instead of real weights: a GLM-4V vision-language model
(``Glm4vForConditionalGeneration``, the class of GLM-4.6V-Flash) and a GLM-4 chat model
(``Glm4ForCausalLM``, which vLLM hosts). Both share one byte-level BPE tokenizer trained here on
Chinese and English text, with GLM's special tokens and chat template. Nothing is downloaded.

Model paths of the form ``tiny:glm4v`` and ``tiny:glm4-chat`` in a profile resolve to these
checkpoints; they are built on first use into the cache folder and reused after that. Builds are
deterministic (fixed seeds), so the version hash of a checkpoint is stable across machines.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

# Bump when the builder changes what it writes; old caches are then ignored, never reused.
BUILDER_VERSION = "tiny-v1"
TINY_PREFIX = "tiny:"
# glm4v-b: the same architecture with other random weights, to rehearse a model swap.
TINY_MODELS = ("glm4v", "glm4v-b", "glm4-chat")

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "[MASK]",
    "[gMASK]",
    "[sMASK]",
    "<sop>",
    "<eop>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|observation|>",
    "<|begin_of_image|>",
    "<|end_of_image|>",
    "<|begin_of_video|>",
    "<|end_of_video|>",
    "<|image|>",
    "<|video|>",
    "<|pad|>",
]

# GLM-4 chat format; the vision model's template places the image before the question text.
CHAT_TEMPLATE = (
    "[gMASK]<sop>{% for m in messages %}<|{{ m['role'] }}|>\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for part in m['content'] %}{% if part['type'] == 'image' %}"
    "<|begin_of_image|><|image|><|end_of_image|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_CORPUS = [
    "A photo of a cat sitting on a wooden table next to a cup of coffee.",
    "The receipt shows a total of 128.50 yuan, paid by card on Monday.",
    "What is in this picture? How many people are there? What colour is the car?",
    "Why is the sky blue? What should I do next? Is this contract fair to me?",
    "Describe the image in detail. Read the text on the sign. Is this mushroom safe to eat?",
    "The chart shows sales rising from January to June, with a dip in April.",
    "A doctor looks at an X-ray of a chest; the lab report lists glucose and cholesterol.",
    "这张图片里有什么?图中有几个人?汽车是什么颜色的?",
    "为什么天空是蓝色的?我应该怎么做?这个合同条款是否合理?",
    "请详细描述这张图片。读出标牌上的文字。这个蘑菇能吃吗?",
    "收据上的总金额是一百二十八元五角,星期一用银行卡支付。",
    "图表显示一月到六月销售额上升,四月有所下降。",
    "医生在看胸部X光片,化验单上列出了血糖和胆固醇。",
    "这只猫坐在木桌上,旁边有一杯咖啡。天气很好,阳光明媚。",
    "建议你咨询专业人士。后果可能很严重。这个包是真皮的吗?",
    "The quick brown fox jumps over the lazy dog. 0123456789 %$#@!?.,;:()[]{}",
]


def cache_root() -> Path:
    """The folder tiny checkpoints are built into (``SEETHINK_CACHE_DIR`` overrides)."""
    base = os.environ.get("SEETHINK_CACHE_DIR") or Path.home() / ".cache" / "seethink"
    return Path(base) / BUILDER_VERSION


def is_tiny(model: str) -> bool:
    return model.startswith(TINY_PREFIX)


def resolve_model_path(model: str) -> str:
    """Turn a profile's model reference into a loadable path or hub id.

    ``tiny:NAME`` builds (once) and returns the local tiny checkpoint; anything else is returned
    unchanged (a local folder or a hub id on machines that have the weights).
    """
    if not is_tiny(model):
        return model
    name = model[len(TINY_PREFIX) :]
    if name not in TINY_MODELS:
        raise ValueError(f"unknown tiny model '{name}'; expected one of: {', '.join(TINY_MODELS)}")
    return str(ensure_built(name))


def ensure_built(name: str) -> Path:
    """Build the tiny checkpoint ``name`` unless the cache already has it; return its folder.

    Safe to call from several processes at once (replicas starting together): a file lock
    serialises the build and the result is moved into place atomically.
    """
    root = cache_root()
    target = root / name
    if (target / "config.json").exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "config.json").exists():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
        try:
            _BUILDERS[name](tmp)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("built tiny checkpoint %s at %s", name, target)
    return target


_WHOLE_FILE_LIMIT = 64 << 20  # files above this are hashed by size, head and tail


def checkpoint_version(path: str | Path) -> str:
    """A short hash naming a checkpoint's version.

    A local folder: its config/tokenizer files in full and its weight files by name, size and
    their first and last MiB (a 20 GB checkpoint is not read whole at every start). A hub id:
    the commit of its locally cached snapshot. Otherwise "unknown".
    """
    p = Path(path)
    if not p.is_dir():
        return _hub_revision(str(path))
    h = hashlib.sha256()
    for f in sorted(p.iterdir()):
        if f.suffix not in {".safetensors", ".json", ".bin"} or not f.is_file():
            continue
        size = f.stat().st_size
        h.update(f"{f.name}:{size}".encode())
        with open(f, "rb") as fh:
            if size <= _WHOLE_FILE_LIMIT:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            else:
                h.update(fh.read(1 << 20))
                fh.seek(size - (1 << 20))
                h.update(fh.read(1 << 20))
    return h.hexdigest()[:12]


def _hub_revision(repo_id: str) -> str:
    try:
        from huggingface_hub import snapshot_download

        snapshot = snapshot_download(repo_id, local_files_only=True)
    except Exception:  # not cached here, or not a hub id: nothing to name it by
        return "unknown"
    return Path(snapshot).name[:12]


def build_tokenizer(out: Path):
    """Train a small byte-level BPE on bilingual text and save it as a fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        pad_token="<|pad|>",
        padding_side="left",
        extra_special_tokens={"image_token": "<|image|>"},
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    return fast


def _ids(tok) -> dict[str, int]:
    return {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}


def _eos_ids(ids: dict[str, int]) -> list[int]:
    return [ids["<|endoftext|>"], ids["<|user|>"], ids["<|observation|>"]]


def build_glm4v(out: Path, seed: int = 0, name: str = "glm4v") -> None:
    """A ~0.3 M-parameter ``Glm4vForConditionalGeneration`` with an image-only processor config."""
    import torch
    from transformers import GenerationConfig, Glm4vConfig, Glm4vForConditionalGeneration
    from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil

    tok = build_tokenizer(out)
    ids = _ids(tok)
    head_dim = 32
    config = Glm4vConfig(
        text_config={
            "vocab_size": len(tok),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": head_dim,
            "max_position_embeddings": 4096,
            # as in GLM-4.1V: half the head is rotary, its pairs split over (t, h, w)
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [2, 3, 3],
                "partial_rotary_factor": 0.5,
            },
            "pad_token_id": ids["<|pad|>"],
            "eos_token_id": _eos_ids(ids),
        },
        vision_config={
            "depth": 1,
            "hidden_size": 32,
            "num_heads": 2,
            "intermediate_size": 64,
            "out_hidden_size": 64,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "image_size": 112,
        },
        image_token_id=ids["<|image|>"],
        video_token_id=ids["<|video|>"],
        image_start_token_id=ids["<|begin_of_image|>"],
        image_end_token_id=ids["<|end_of_image|>"],
        video_start_token_id=ids["<|begin_of_video|>"],
        video_end_token_id=ids["<|end_of_video|>"],
    )
    torch.manual_seed(seed)
    model = Glm4vForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        eos_token_id=_eos_ids(ids), pad_token_id=ids["<|pad|>"], do_sample=False
    )
    model.save_pretrained(out)
    # Small images keep the tiny model fast: at most 8x8 patches (16 image tokens) per image.
    Glm4vImageProcessorPil(
        size={"shortest_edge": 56 * 56, "longest_edge": 112 * 112},
        patch_size=14,
        temporal_patch_size=2,
        merge_size=2,
    ).save_pretrained(out)
    _write_meta(out, name)


def build_glm4_chat(out: Path) -> None:
    """A tiny ``Glm4ForCausalLM`` (GLM-4-0414 architecture) that vLLM can host on CPU."""
    import torch
    from transformers import GenerationConfig, Glm4Config, Glm4ForCausalLM

    tok = build_tokenizer(out)
    ids = _ids(tok)
    config = Glm4Config(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,  # vLLM's CPU attention needs head_dim >= 32
        max_position_embeddings=4096,
        pad_token_id=ids["<|pad|>"],
        eos_token_id=_eos_ids(ids),
        torch_dtype="float32",
    )
    torch.manual_seed(1)
    model = Glm4ForCausalLM(config).eval()
    model.generation_config = GenerationConfig(
        eos_token_id=_eos_ids(ids), pad_token_id=ids["<|pad|>"]
    )
    model.save_pretrained(out)
    _write_meta(out, "glm4-chat")


def _write_meta(out: Path, name: str) -> None:
    (out / "seethink_tiny.json").write_text(
        json.dumps({"name": name, "builder": BUILDER_VERSION, "random_weights": True})
    )


_BUILDERS = {
    "glm4v": build_glm4v,
    "glm4v-b": lambda out: build_glm4v(out, seed=7, name="glm4v-b"),
    "glm4-chat": build_glm4_chat,
}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    for n in TINY_MODELS:
        p = ensure_built(n)
        print(n, p, checkpoint_version(p))
