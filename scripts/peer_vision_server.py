"""The design article's vision server, built as a competent user would: the benchmark's peer.

One uvicorn process, one FastAPI app, the GLM-4V checkpoint loaded with transformers (seethink's
own ``TransformersVision``, so the model code, processor and prompt are identical to the graph's
vision node), and ``POST /caption`` running transformers' ``generate`` one request at a time
under a lock (``generate_with_transformers``: the graph's own decoding loop is not the article's).
No batching, no cache: that is the deployment the graph is measured against.

    .venv/bin/python scripts/peer_vision_server.py --port 23456 --model tiny:glm4v
    curl -F file=@cat.png http://127.0.0.1:23456/caption   # {"caption": "..."}
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

# At module level, not in build_app: with postponed annotations FastAPI resolves the route's
# parameter types (UploadFile) from the module's globals.
from fastapi import FastAPI, File, HTTPException, UploadFile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def build_app(model: str, max_new_tokens: int, dtype: str = "float32"):
    """The FastAPI app over one loaded model; ``generate`` calls are serialised by a lock."""
    from benchlib import caption_prompt

    from deployments.vision_backends import TransformersVision
    from seethink.checkpoints import checkpoint_version, resolve_model_path
    from seethink.images import ImageError, decode_image

    path = resolve_model_path(model)
    backend = TransformersVision(path, model, checkpoint_version(path), dtype=dtype)
    prompt = caption_prompt("en")  # the graph's caption prompt
    lock = threading.Lock()
    app = FastAPI(title="peer vision server (the design article's)")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model": model}

    # A plain `def` route: FastAPI runs it in its thread pool, and the lock keeps one generate
    # at a time, as the article's server does.
    @app.post("/caption")
    def caption(file: UploadFile = File(...)) -> dict:
        data = file.file.read()
        try:
            image = decode_image(data)
        except (ImageError, ValueError, OSError) as e:
            raise HTTPException(400, f"the upload is not an image we can read: {e}")
        with lock:
            g = backend.generate_with_transformers([image], [prompt], max_new_tokens)[0]
        return {"caption": g.text}

    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--model", default="tiny:glm4v", help="a tiny:NAME or a checkpoint path")
    ap.add_argument("--max-new-tokens", type=int, default=16, help="the cpu profile's budget")
    ap.add_argument("--dtype", default="float32", choices=["auto", "float32", "bfloat16"])
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import uvicorn

    app = build_app(args.model, args.max_new_tokens, args.dtype)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
