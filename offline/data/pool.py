"""The unlabelled pool the teacher teaches on: training queries paired with training ads they are not
labelled with — random ads, lexically close ads (character n-gram TF-IDF) and semantically close ads
(nearest by the teacher's vectors) — so the teacher's scores span easy and hard negatives and likely
positives, as real traffic does. Never drawn from the test split."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sklearn.feature_extraction.text import TfidfVectorizer

from models.text import fold_umlauts
from offline.data.qadsm import Pairs, pair_ad_texts, unique_index


class PoolConfig(BaseModel):
    """Unlabelled pairs from training queries × training ads; never from the test split. The `[pool]` section of
    the run config (`offline.distill.config.RunConfig.pool`), declared here once, beside the code it drives."""

    model_config = ConfigDict(extra="forbid")

    multiplier: float = Field(10.0, gt=0, description="pool size as a multiple of the labelled set")
    random_share: float = Field(0.34, ge=0)
    lexical_share: float = Field(0.33, ge=0)
    semantic_share: float = Field(0.33, ge=0)
    neighbours: int = Field(60, ge=1, description="candidates per query for the lexical/semantic draws")


def char_tfidf(fit_texts: list[str]) -> TfidfVectorizer:
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=1, sublinear_tf=True, dtype=np.float32)
    return vec.fit([fold_umlauts(t) for t in fit_texts])


def _top_neighbours(sim: np.ndarray, k: int) -> np.ndarray:
    k = min(k, sim.shape[1])
    return np.argpartition(-sim, k - 1, axis=1)[:, :k]


def build_pool(train: Pairs, cfg: PoolConfig, seed: int, query_vecs: np.ndarray | None = None,
               ad_vecs: np.ndarray | None = None) -> Pairs:
    """Draw `cfg.multiplier × len(train)` unlabelled pairs. `query_vecs`/`ad_vecs` are teacher vectors of the
    unique training queries/ads (in first-seen order); without them the semantic share goes to random."""
    rng = np.random.default_rng(seed)
    queries, qi = unique_index(train.query)
    ad_texts, ai = unique_index(pair_ad_texts(train))
    first_ad_row = {a: i for i, a in reversed(list(enumerate(ai)))}
    labelled = {(int(q), int(a)) for q, a in zip(qi, ai, strict=True)}

    tfidf = char_tfidf(queries + ad_texts)
    lex_nb = _top_neighbours((tfidf.transform([fold_umlauts(q) for q in queries]) @ tfidf.transform(
        [fold_umlauts(a) for a in ad_texts]).T).toarray(), cfg.neighbours)
    sem_nb = None
    if query_vecs is not None and ad_vecs is not None:
        sem_nb = _top_neighbours(query_vecs @ ad_vecs.T, cfg.neighbours)

    shares = np.array([cfg.random_share, cfg.lexical_share, cfg.semantic_share if sem_nb is not None else 0.0])
    if shares.sum() == 0:
        raise ValueError("pool shares are all zero")
    shares = shares / shares.sum()
    target = int(round(cfg.multiplier * len(train)))
    per_query = target / len(queries)
    chosen: set[tuple[int, int]] = set()
    for q in range(len(queries)):
        want = rng.poisson(per_query * shares)
        sources = [rng.integers(0, len(ad_texts), size=4 * want[0] + 4), lex_nb[q],
                   sem_nb[q] if sem_nb is not None else np.empty(0, dtype=int)]
        for n, cand in zip(want, sources, strict=True):
            cand = rng.permutation(cand)
            taken = 0
            for a in cand:
                key = (q, int(a))
                if taken >= n:
                    break
                if key in labelled or key in chosen:
                    continue
                chosen.add(key)
                taken += 1
    pairs = sorted(chosen)
    rows = [first_ad_row[a] for _, a in pairs]
    return Pairs([queries[q] for q, _ in pairs], [train.title[r] for r in rows],
                 [train.description[r] for r in rows], np.full(len(pairs), -1, dtype=np.int8))
