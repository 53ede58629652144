"""Which of the router's four languages a question is written in: zh, zh-Hant, en or mixed."""

from __future__ import annotations

import re

LANGS = ("zh", "zh-Hant", "en", "mixed")

# Characters that only occur in traditional writing (their simplified forms differ), common in
# questions about images. One hit is enough: simplified text never contains them.
_TRADITIONAL = frozenset(
    "這個們為麼嗎問題與實體點說請幫圖裡醫藥錢價買賣險稅單據應該會對開關時間還進過來後"
    "電話號碼車輛違規罰場紅綠燈張種類別歲貓隻鳥魚龍雞鴨豬華寫讀聽見觀覽樣數學習書館氣溫"
    "傷腫癢療師員產業務經濟財報銀長輩東們給帶陽陰雲風雙邊線條發現認識護衛聯絡網頁顯蘋"
    "劑檢驗證勞資薪漲虧損賠償權約協議訴訟務處罰單據帳戶貸債務幣匯兌獎廣標籤戶擔憂"
    "嚴緊鬆髮膚膽腸臟腦頭頸臉淚齒燒燙傷癒癥狀診斷療劑針藥頓飯麵餅湯鍋爐廚"
    "門鎖鑰樓層廳廁燈櫃牆壁磚衛壞舊換裝飾鋪運動襪褲櫥戲劇畫筆紙幣"
)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{3,}")


def infer_lang(text: str) -> str:
    """``mixed`` if Chinese and a Latin word (3+ letters) both occur; else the script's language.

    Short Latin tokens inside Chinese ("X光", "CT", "B超") do not make a question mixed.
    """
    if not _CJK.search(text):
        return "en"
    if _LATIN_WORD.search(text):
        return "mixed"
    return "zh-Hant" if any(ch in _TRADITIONAL for ch in text) else "zh"
