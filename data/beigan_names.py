"""Synthetic people, phone numbers, estate and company names for the Beigan demo.

Everything here is made up; any likeness to a real person or company is a coincidence.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

PHONE_PREFIX = "1990000"
"""Prefix of every synthetic phone number: 1990000 + 4 digits, a block used only for demos."""

SURNAMES = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜钟汪范金陆俞楼来孔施倪傅洪邵钱汤童屠裘"
)
GIVEN_CHARS = tuple(
    "伟芳娜敏静丽强磊军洋勇艳杰涛明超霞平刚桂英华飞玲建波斌宇浩凯鹏红燕晓丹婷雪琳萍"
    "国庆海峰春梅志文俊杭萧越江然佳怡欣颖晨阳立新永兴耀祥荣慧云霖琦瑜"
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


ESTATE_PREFIXES = _words(
    "金色 锦绣 北干 金城 萧然 湖滨 钱江 东方 世纪 阳光 绿都 名都 银座 星辰 江南 翠苑 丽都 金惠"
    " 博学 银河 华府 新城 天悦 金泰 金山 国泰 桂花 香樟 紫荆 御景 云栖 明月 盛世 宏都 信达 金辉"
    " 碧水 春江 兴议 育才 工人 山阴 北塘 通惠 晨晖 永兴 和园 嘉禾 瑞丰 蓝湾 观澜 金都 怡景 欣隆"
)
ESTATE_SUFFIXES = _words("家园 苑 名苑 花园 公寓 小区 府 嘉园 华庭 新村 雅苑 公馆 佳苑 城")
COMPANY_BRANDS = _words("金诚 萧宏 恒信 嘉和 锦城 安居 绿园 宏泰 和瑞 万润 佳乐 北辰 萧润 北恒")
COMPANY_FORMS = ("杭州{}物业服务有限公司", "浙江{}物业管理有限公司", "杭州萧山{}物业管理有限公司")


class PhoneBook:
    """Hands out distinct synthetic phone numbers in a seeded order."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._suffixes = [int(s) for s in rng.permutation(10_000)]

    def next(self) -> str:
        """Return a phone number not handed out before."""
        return f"{PHONE_PREFIX}{self._suffixes.pop():04d}"


def person_names(rng: np.random.Generator, count: int) -> list[str]:
    """Draw ``count`` distinct synthetic Chinese full names of 2 or 3 characters."""
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        given = rng.choice(GIVEN_CHARS, size=2 if rng.uniform() < 0.7 else 1)
        name = str(rng.choice(SURNAMES)) + "".join(str(c) for c in given)
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def estate_names(rng: np.random.Generator, count: int) -> list[str]:
    """Draw ``count`` distinct plausible estate (小区) names."""
    pairs = [(p, s) for p in ESTATE_PREFIXES for s in ESTATE_SUFFIXES if p[-1] != s[0]]
    if count > len(pairs):
        raise ValueError(f"only {len(pairs)} estate names available, {count} asked")
    chosen = rng.choice(len(pairs), size=count, replace=False)
    return ["".join(pairs[int(k)]) for k in chosen]


def property_companies(rng: np.random.Generator, count: int) -> list[str]:
    """Draw ``count`` distinct synthetic property-management company names."""
    brands = rng.choice(COMPANY_BRANDS, size=count, replace=False)
    forms = rng.integers(0, len(COMPANY_FORMS), size=count)
    return [COMPANY_FORMS[int(f)].format(b) for b, f in zip(brands, forms, strict=True)]
