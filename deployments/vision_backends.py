"""Vision-language backends behind one interface: transformers (any GLM-4V checkpoint) and vLLM."""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import time

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
        compile: bool = False,
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
        gen = self.model.generation_config
        eos = gen.eos_token_id
        eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        self._eos_ids = torch.tensor(sorted(set(eos)), dtype=torch.long, device=self.device)
        # generate's padding for finished rows: the config's, else the first end token
        self._pad_id = gen.pad_token_id if gen.pad_token_id is not None else (eos or [0])[0]
        self._yes_ids = self._answer_token_ids(["yes", "Yes", "是", "对"])
        self._no_ids = self._answer_token_ids(["no", "No", "否", "不"])
        # what each decoding step calls: the text model, compiled if the profile asks
        self._text_step = self.model.model.language_model
        t = time.perf_counter()
        self.compiled = compile and self._compile_decoding_step()
        self.compile_s = time.perf_counter() - t if self.compiled else 0.0

    def _compile_decoding_step(self) -> bool:
        """Compile the text model for the decoding steps (``vision.compile``): torch.compile,
        inductor, dynamic shapes, so one graph serves every prompt length, cache length and
        batch size above one (a batch of one has its own). At these sizes a step is about a
        hundred small operations, each paying Python's and the dispatcher's overhead; the
        compiled step fuses them: 7.5 against 10.2 ms for a 16-token answer on the cpu profile.

        Compiled here, before the replica is ready, on a batch of one and a padded batch of
        two: about 20 s on two cores the first time, a few seconds once inductor's cache (in
        seethink's cache folder, unless ``TORCHINDUCTOR_CACHE_DIR`` says otherwise) holds the
        code. Returns whether it compiled; on any failure the steps stay eager, with a warning.
        """
        torch = self._torch
        eager = self._text_step
        try:
            import torch._inductor.config as inductor_config
            from torch._inductor.runtime.cache_dir_utils import default_cache_dir

            from seethink.checkpoints import cache_root

            # torch writes its default (a folder in /tmp) into the environment once anything
            # asks for the cache; only a folder the user chose is kept
            default = default_cache_dir()
            if os.environ.get("TORCHINDUCTOR_CACHE_DIR", default) == default:
                os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache_root() / "torchinductor")

            inductor_config.compile_threads = 1  # no pool of compile workers left in the replica
            self._text_step = torch.compile(eager, dynamic=True)
            for sizes in ([(56, 56)], [(56, 56), (112, 84)]):  # one; two of different lengths
                images = [Image.new("RGB", size, (120, 90, 60)) for size in sizes]
                self.generate(images, ["Describe the image."] * len(images), 4)
            return True
        except Exception:
            logger.warning("vision: compiling the decoding step failed; it runs eager", exc_info=1)
            self._text_step = eager
            return False

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

    def _image_features(self, images: list[Image.Image], image_inputs: dict) -> dict:
        """The vision encoder's output for the batch, as the model's ``mm_encoder_outputs``.

        Each image's features are kept on the image object, like its pixels: a cascade's
        re-check (and any later question about an image the replica still holds) skips the
        vision encoder, about half of a re-check's forward pass. Images without features are
        encoded together, in one call, exactly as the model's own forward would."""
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        todo = [i for i, im in enumerate(images) if getattr(im, "_seethink_features", None) is None]
        if todo:
            if len(todo) == len(images):
                pixels, grid = image_inputs["pixel_values"], image_inputs["image_grid_thw"]
            else:
                parts = [images[i]._seethink_pixels for i in todo]
                pixels = self._torch.cat([p["pixel_values"] for p in parts]).to(self.device)
                grid = self._torch.cat([p["image_grid_thw"] for p in parts]).to(self.device)
            encoded = self.model.model.get_image_features(pixels, grid, return_dict=True)
            for i, features in zip(todo, encoded.pooler_output, strict=True):
                images[i]._seethink_features = features
        kept = tuple(im._seethink_features for im in images)
        return {"image": BaseModelOutputWithPooling(pooler_output=kept)}

    def _text_inputs(self, images: list[Image.Image], prompts: list[str]):
        """The tokenised prompts and the image features, for a forward pass that skips the
        vision encoder where an image was encoded before."""
        inputs = self._inputs(images, prompts)
        features = self._image_features(images, inputs)
        inputs.pop("pixel_values")  # image_grid_thw stays: it places the image in RoPE
        return inputs, features

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
        """Greedy decoding in a loop of our own over the model's forward: the serving path.

        The same forward calls, logits processors and stopping rule as transformers'
        ``generate`` (``generate_with_transformers``, which the tests hold it to, token for token
        and log-probability for log-probability), without its per-step machinery: 10-15% of a
        caption at these sizes. The vision encoder runs only for images not encoded before.
        """
        torch = self._torch
        cfg = self._generation_config(max_new_tokens)
        with torch.inference_mode():  # the encoder too: kept features must hold no autograd graph
            inputs, features = self._text_inputs(images, prompts)
            mask = inputs["attention_mask"]
            seq = inputs["input_ids"]
            n = seq.shape[0]
            processors = self.model._get_logits_processor(
                generation_config=cfg, input_ids_seq_length=seq.shape[1], device=seq.device
            )
            out = self.model(
                **inputs, mm_encoder_outputs=features, use_cache=True, logits_to_keep=1
            )
            logits, cache = out.logits, out.past_key_values
            # Made once, not per step: the mask with room for every new token (each step sees
            # its first prompt + step + 1 columns), and the first new token's position, text
            # (padding left out) and M-RoPE (text + the image's delta), one further each step
            length = seq.shape[1]
            text = mask.sum(-1, keepdim=True)
            mask = torch.cat([mask, mask.new_ones(n, max_new_tokens)], 1)
            deltas = self.model.model.rope_deltas
            position_ids = torch.cat([text[None], (text + deltas)[None].expand(3, -1, -1)])
            done = torch.zeros(n, dtype=torch.bool, device=seq.device)
            tokens, chosen = [], []
            for step in range(max_new_tokens):
                scores = logits[:, -1].float()
                if processors:
                    scores = processors(seq, scores)
                # a finished row gets padding, as in generate
                nxt = torch.where(done, self._pad_id, scores.argmax(-1))
                tokens.append(nxt)
                chosen.append(torch.log_softmax(scores, -1).gather(-1, nxt[:, None])[:, 0])
                done |= torch.isin(nxt, self._eos_ids)
                if step == max_new_tokens - 1 or bool(done.all()):
                    break
                if processors:  # they read the tokens so far (a repetition penalty)
                    seq = torch.cat([seq, nxt[:, None]], 1)
                visible = mask[:, : length + step + 1]
                logits = self._decode_step(nxt[:, None], visible, position_ids + step, cache)
        return self._results(torch.stack(tokens, 1), torch.stack(chosen, 1), max_new_tokens)

    def _decode_step(self, ids, mask, position_ids, cache):
        """One decoding step: the text model and the LM head, called as the model's forward
        calls them when it gets text tokens and their positions (the multimodal wrapper has
        nothing to add then: no image to encode or place). Skipping its two layers of wrappers
        took 0.6 of 11.7 ms off a 16-token answer on the cpu profile; the logits are the same
        (the tests hold the loop to ``generate``, token for token and log-probability for
        log-probability)."""
        text_model = self.model.model.language_model
        hidden = self._text_step(
            inputs_embeds=text_model.embed_tokens(ids),
            attention_mask=mask,
            position_ids=position_ids,
            past_key_values=cache,
            use_cache=True,
        ).last_hidden_state
        return self.model.lm_head(hidden)

    def generate_with_transformers(self, images, prompts, max_new_tokens):
        """The same answers through transformers' ``generate``: what the design article's
        server calls (``scripts/peer_vision_server.py``), and the reference ``generate`` is
        checked against."""
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
        return self._results(new_tokens, chosen, max_new_tokens)

    def _results(self, new_tokens, chosen, max_new_tokens: int) -> list[Generation]:
        """Generations from the new tokens and their log-probabilities, each cut at its end."""
        eos = set(self._eos_ids.tolist())
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
        with torch.inference_mode():
            inputs, features = self._text_inputs(images, questions)
            out = self.model(**inputs, mm_encoder_outputs=features, logits_to_keep=1)
            logits = out.logits[:, -1].float()
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
