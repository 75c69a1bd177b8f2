"""A small, made-up German ad catalog for the default bundle and demos (not drawn from any data set).

`sample_ads(n)` combines product categories, brands-free adjectives and offer phrases with a seeded
RNG, so the same call always gives the same catalog. Bids are in EUR per click; p_click is a prior
click probability that falls with position-independent ad quality (longer, specific titles click more).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

# (category noun, words a searcher might use, typical bid range in EUR)
CATEGORIES = [
    ("Laufschuhe", ["laufschuhe", "joggingschuhe", "sportschuhe"], (0.4, 1.6)),
    ("Winterjacke", ["winterjacke", "jacke", "parka"], (0.3, 1.2)),
    ("Fahrrad", ["fahrrad", "e-bike", "citybike"], (0.6, 2.5)),
    ("Kinderfahrrad", ["kinderfahrrad", "laufrad", "kinderrad"], (0.3, 1.0)),
    ("Gartenmöbel", ["gartenmöbel", "gartentisch", "loungemöbel"], (0.4, 1.5)),
    ("Sofa", ["sofa", "couch", "ecksofa"], (0.5, 2.0)),
    ("Matratze", ["matratze", "boxspringbett", "lattenrost"], (0.8, 3.0)),
    ("Kaffeevollautomat", ["kaffeevollautomat", "kaffeemaschine", "espressomaschine"], (0.6, 2.2)),
    ("Smartphone", ["smartphone", "handy", "handyvertrag"], (1.0, 3.5)),
    ("Laptop", ["laptop", "notebook", "gaming laptop"], (0.8, 3.0)),
    ("Kopfhörer", ["kopfhörer", "bluetooth kopfhörer", "in-ear"], (0.3, 1.2)),
    ("Flug nach Berlin", ["flug berlin", "billigflug", "flüge"], (0.5, 2.0)),
    ("Hotel in München", ["hotel münchen", "übernachtung", "städtereise"], (0.6, 2.4)),
    ("Ferienwohnung an der Ostsee", ["ferienwohnung ostsee", "urlaub ostsee", "ferienhaus"], (0.4, 1.8)),
    ("Mietwohnung", ["wohnung mieten", "mietwohnung", "2 zimmer wohnung"], (0.5, 2.0)),
    ("Autoversicherung", ["kfz versicherung", "autoversicherung", "versicherung vergleich"], (1.5, 6.0)),
    ("Girokonto", ["girokonto", "kostenloses konto", "bankkonto"], (1.2, 5.0)),
    ("Stromanbieter", ["strom", "stromanbieter", "ökostrom"], (1.0, 4.0)),
    ("Zahnarzt", ["zahnarzt", "zahnreinigung", "implantat"], (0.8, 3.0)),
    ("Sprachkurs Englisch", ["englisch lernen", "sprachkurs", "englischkurs"], (0.4, 1.6)),
    ("Hundefutter", ["hundefutter", "trockenfutter hund", "nassfutter"], (0.2, 0.9)),
    ("Rasenmäher", ["rasenmäher", "mähroboter", "akku rasenmäher"], (0.4, 1.5)),
    ("Brautkleid", ["brautkleid", "hochzeitskleid", "abendkleid"], (0.3, 1.3)),
    ("Umzugsfirma", ["umzug", "umzugsfirma", "umzugskartons"], (0.8, 3.0)),
    ("Gebrauchtwagen", ["gebrauchtwagen", "auto kaufen", "jahreswagen"], (0.6, 2.5)),
]
AUDIENCES = ["für Damen", "für Herren", "für Kinder", "für Einsteiger", "für Profis", "für die Familie", ""]
ADJECTIVES = ["günstig", "hochwertig", "leicht", "nachhaltig", "preiswert", "robust", "modern", "bewährt"]
OFFERS = [
    "Jetzt bis zu {p} % Rabatt sichern.",
    "Kostenloser Versand ab {e} €.",
    "Große Auswahl, schnelle Lieferung.",
    "Testsieger im Vergleich. Jetzt online bestellen.",
    "Nur diese Woche: {p} % auf alles.",
    "Angebote vergleichen und sparen.",
    "Beratung vor Ort und online.",
    "30 Tage Rückgaberecht, Kauf auf Rechnung.",
]
SHOPS = ["Online-Shop", "Fachhandel", "Vergleichsportal", "Outlet", "Versandhandel", "Anbieter aus Ihrer Region"]


def sample_ads(n: int = 300, seed: int = 7) -> list[dict]:
    """`n` distinct ads: ad_id, title, description, bid (EUR, > 0), p_click (0.005–0.09)."""
    rng = random.Random(seed)
    ads = []
    for i in range(n):
        noun, words, (lo, hi) = CATEGORIES[i % len(CATEGORIES)]
        audience = rng.choice(AUDIENCES)
        adjective = rng.choice(ADJECTIVES)
        title = " ".join(x for x in (noun, audience, adjective) if x)
        offer = rng.choice(OFFERS).format(p=rng.choice([10, 15, 20, 30, 40, 50]), e=rng.choice([20, 29, 49]))
        description = f"{rng.choice(words).capitalize()} im {rng.choice(SHOPS)}. {offer}"
        quality = len(title) / 40
        ads.append({
            "ad_id": f"sample-{i:04d}",
            "title": title,
            "description": description,
            "bid": round(rng.uniform(lo, hi), 2),
            "p_click": round(min(0.09, max(0.005, rng.gauss(0.02 + 0.02 * quality, 0.01))), 4),
        })
    return ads


def write_sample_catalog(path: Path, n: int = 300, seed: int = 7) -> Path:
    """Write `sample_ads(n, seed)` as JSONL (what `twinrank index build --catalog` reads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for ad in sample_ads(n, seed):
            f.write(json.dumps(ad, ensure_ascii=False) + "\n")
    return path
