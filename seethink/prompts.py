"""The words the graph says to its models and to users, per language (zh, en)."""

from __future__ import annotations

NOTICES = {
    "zh": "当前仅提供图像描述",
    "en": "Only an image description is available right now",
}
CASCADE_TEMPLATES = {
    "zh": (
        "图片描述:{caption}\n\n问题:{question}\n请根据图片描述回答问题,需要时运用常识和专业知识。"
    ),
    "en": (
        "Image description: {caption}\n\nQuestion: {question}\n"
        "Answer the question using the description and your knowledge."
    ),
}
SYSTEM_PROMPTS = {
    "zh": "你是一个乐于助人的助手。你看不到图片,只能看到图片的文字描述。",
    "en": "You are a helpful assistant. You cannot see the image, only a description of it.",
}
VERIFY_TEMPLATES = {
    "zh": "根据这张图片,下面的说法正确吗?请回答是或否。说法:{claim}",
    "en": (
        "Based on this image, is the following statement true? Answer yes or no. Statement: {claim}"
    ),
}
CAPTION_PROMPTS = {
    "zh": "请详细描述这张图片。",
    "en": "Describe this image in detail.",
}
