"""Vision-language backends behind one interface: transformers (any GLM-4V checkpoint) and vLLM."""

from __future__ import annotations

import asyncio
import copy
import logging

from PIL import Image

from seethink.generation import Generation, VisionBackend, confidence_from_logprobs

logger = logging.getLogger(__name__)


class TransformersVision(VisionBackend):
    """GLM-4V through transformers, loaded as ``zai-org/GLM-4.6V-Flash`` is loaded.

    ``AutoModelForImageTextToText`` loads the model. The processor is image-only (the GLM-4V
    image processor plus the tokenizer), because GLM-4V's full processor needs torchvision for
    its video processor, which the CPU install does not have; the image tokens are the same.
    """

    def __init__(
        self,
        path: str,
        name: str,
        version: str,
        dtype: str = "auto",
        device: str = "",
        gpu_share: float = 0.0,
    ):
        import torch
        from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoTokenizer

        self.name, self.version = name, version
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = {"auto": "auto", "bfloat16": torch.bfloat16, "float32": torch.float32}[dtype]
        if self.device == "cpu" and torch_dtype == "auto":
            torch_dtype = torch.float32  # bf16 matmuls are ~3x slower on these CPUs
        if self.device == "cuda" and 0 < gpu_share < 1:
            # Ray's fractional GPU is bookkeeping only; cap torch's allocator at the same share
            # so one replica cannot starve the others (or vLLM) on the card.
            torch.cuda.set_per_process_memory_fraction(gpu_share)
        self.model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch_dtype)
        self.model.to(self.device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
        try:
            self.image_processor = AutoImageProcessor.from_pretrained(path, backend="pil")
        except (TypeError, ValueError):
            self.image_processor = AutoImageProcessor.from_pretrained(path)
        self.merge_size = int(getattr(self.image_processor, "merge_size", 2))
        cfg = self.model.config
        self.image_token_id = cfg.image_token_id
        self.image_token = self.tokenizer.convert_ids_to_tokens(self.image_token_id)
        self._torch = torch
        self._gen_configs: dict[int, object] = {}
        self._yes_ids = self._answer_token_ids(["yes", "Yes", "是", "对"])
        self._no_ids = self._answer_token_ids(["no", "No", "否", "不"])

    def _answer_token_ids(self, words: list[str]) -> list[int]:
        ids = set()
        for w in words:
            toks = self.tokenizer.encode(w, add_special_tokens=False)
            if toks:
                ids.add(toks[0])
        return sorted(ids)

    def _image_inputs(self, images: list[Image.Image]) -> dict:
        """The image processor's output for the batch: each image processed on its own (as the
        processor does inside a batch) and joined, and kept on the image object, so an image
        the vision node still holds decoded (a cascade's re-check) is not processed twice."""
        per = []
        for image in images:
            done = getattr(image, "_seethink_pixels", None)
            if done is None:
                done = dict(self.image_processor(images=[image], return_tensors="pt"))
                image._seethink_pixels = done
            per.append(done)
        if len(per) == 1:
            return dict(per[0])
        return {k: self._torch.cat([p[k] for p in per]) for k in per[0]}

    def _inputs(self, images: list[Image.Image], prompts: list[str]):
        image_inputs = self._image_inputs(images)
        grid = image_inputs["image_grid_thw"]
        texts = []
        for i, prompt in enumerate(prompts):
            messages = [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}
            ]
            text = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            n = int(grid[i].prod()) // (self.merge_size**2)
            # The template holds one image placeholder; expand it to the image's token count.
            texts.append(text.replace(self.image_token, self.image_token * n, 1))
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc["mm_token_type_ids"] = (enc["input_ids"] == self.image_token_id).long()
        enc.update(image_inputs)
        return enc.to(self.device)

    def _generation_config(self, max_new_tokens: int):
        """The model's generation config with this call's settings, built once per length.

        Without one, every ``generate`` call rebuilds it, and checks the model's config for
        stray generation settings by constructing a default config of the whole model: measured
        at 6% of the vision replica's CPU under load."""
        cfg = self._gen_configs.get(max_new_tokens)
        if cfg is None:
            cfg = copy.deepcopy(self.model.generation_config)
            cfg.update(max_new_tokens=max_new_tokens, do_sample=False, output_scores=True,
                       return_dict_in_generate=True)  # fmt: skip
            self._gen_configs[max_new_tokens] = cfg
        return cfg

    def generate(self, images, prompts, max_new_tokens):
        torch = self._torch
        inputs = self._inputs(images, prompts)
        with torch.inference_mode():
            out = self.model.generate(
                **inputs, generation_config=self._generation_config(max_new_tokens)
            )
        prompt_len = inputs["input_ids"].shape[1]
        new_tokens = out.sequences[:, prompt_len:]
        # scores[t] are the processed logits at step t; log-softmax gives the chosen tokens'
        # log-probabilities under greedy decoding.
        logprobs = torch.stack(
            [torch.log_softmax(s.float(), dim=-1) for s in out.scores], dim=1
        )  # (batch, steps, vocab)
        chosen = logprobs.gather(-1, new_tokens.unsqueeze(-1)).squeeze(-1)
        eos = set(self.model.generation_config.eos_token_id or [])
        pad = self.tokenizer.pad_token_id
        results = []
        for row, lp in zip(new_tokens.tolist(), chosen.tolist(), strict=True):
            keep = []
            stopped = False
            for tok, p in zip(row, lp, strict=True):
                if tok in eos or tok == pad:
                    stopped = True
                    break
                keep.append((tok, p))
            text = self.tokenizer.decode([t for t, _ in keep], skip_special_tokens=True)
            results.append(
                Generation(
                    text=text.strip(),
                    confidence=confidence_from_logprobs([p for _, p in keep]),
                    num_tokens=len(keep),
                    finish_reason="stop" if stopped or len(keep) < max_new_tokens else "length",
                )
            )
        return results

    def yes_probability(self, images, questions):
        """One forward pass over the batch (prefill only, no generation); left padding puts
        every row's next-token distribution at the last position."""
        torch = self._torch
        inputs = self._inputs(images, questions)
        with torch.inference_mode():
            logits = self.model(**inputs).logits[:, -1].float()
        probs = torch.softmax(logits, dim=-1)
        p_yes = probs[:, self._yes_ids].sum(-1).tolist()
        p_no = probs[:, self._no_ids].sum(-1).tolist()
        return [y / (y + n) if y + n > 0 else 0.5 for y, n in zip(p_yes, p_no, strict=True)]


class VLLMVision(VisionBackend):
    """GLM-4V on vLLM (``Glm4vForConditionalGeneration`` is a vLLM-supported architecture).

    The faster backend on GPUs: vLLM schedules token by token inside each batch. Used by
    the gpu-24g profile. Not exercised by the tests: they run the vision node on transformers,
    and no GPU was available to check this path (see the README).
    """

    def __init__(self, path: str, name: str, version: str, engine_kwargs: dict):
        from vllm import LLM

        self.name, self.version = name, version
        self.llm = LLM(model=path, limit_mm_per_prompt={"image": 1}, **engine_kwargs)
        self.tokenizer = self.llm.get_tokenizer()

    def generate(self, images, prompts, max_new_tokens):
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=max_new_tokens, temperature=0.0, logprobs=0)
        reqs = []
        for image, prompt in zip(images, prompts, strict=True):
            messages = [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}
            ]
            text = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            reqs.append({"prompt": text, "multi_modal_data": {"image": image}})
        outs = self.llm.generate(reqs, params, use_tqdm=False)
        results = []
        for o in outs:
            c = o.outputs[0]
            lps = [next(iter(d.values())).logprob for d in (c.logprobs or [])]
            results.append(
                Generation(
                    c.text.strip(),
                    confidence_from_logprobs(lps),
                    len(c.token_ids),
                    "length" if c.finish_reason == "length" else "stop",
                )
            )
        return results


class InstantVision(VisionBackend):
    """Answers at once with fixed tokens: no model, no compute. A measuring tool (the
    ``instant`` profile shows what the graph itself costs); never a default."""

    TEXT = "a picture of something"

    def __init__(self, name: str = "instant-vision", version: str = "instant"):
        self.name, self.version = name, version

    def generate(self, images, prompts, max_new_tokens):
        n = min(max_new_tokens, len(self.TEXT.split()))
        return [Generation(self.TEXT, 1.0, n) for _ in prompts]

    def yes_probability(self, images, questions):
        return [1.0 for _ in questions]


async def run_blocking(fn, *args, executor=None):
    """Run model work off the event loop so the replica keeps accepting requests (in
    ``executor``, else the loop's default one)."""
    return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
