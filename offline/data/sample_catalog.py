"""A made-up German ad catalog for the default bundle and demos (not drawn from any data set).

`sample_ads(n)` spreads `n` ads over the categories below (about 80, from shoes to car insurance), each ad a
product noun of its category with an audience, an attribute and an offer, drawn by a seeded RNG: the same call
always gives the same catalog. Bids are in EUR per click within the category's range; p_click is a prior click
probability between 0.005 and 0.09.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Category:
    """Products one advertiser group sells, and what a searcher types for them."""

    nouns: tuple[str, ...]  # product names used in titles
    searches: tuple[str, ...]  # query phrases, lower case
    bid: tuple[float, float]  # EUR per click
    audiences: tuple[str, ...] = ("für Damen", "für Herren", "für Kinder", "")
    service: bool = False  # a service or a trip rather than goods: other attributes, sellers and offers


_WEAR = ("für Damen", "für Herren", "für Kinder", "für Mädchen", "für Jungen", "")
_HOME = ("für die Küche", "fürs Wohnzimmer", "für kleine Räume", "für die Familie", "")
_ANY = ("für Einsteiger", "für Profis", "für die Familie", "für Senioren", "für Studenten", "")
_TRAVEL = ("für Familien", "für Paare", "last minute", "mit Frühstück", "all inclusive", "")

CATEGORIES: tuple[Category, ...] = (
    # Mode und Schuhe
    Category(("Laufschuhe", "Joggingschuhe", "Trailschuhe"), ("laufschuhe", "joggingschuhe damen", "laufschuhe herren"),
             (0.4, 1.6), _WEAR),
    Category(("Sneaker", "Turnschuhe", "Freizeitschuhe"), ("sneaker", "turnschuhe", "weisse sneaker"), (0.3, 1.3),
             _WEAR),
    Category(("Winterjacke", "Daunenjacke", "Parka"), ("winterjacke", "daunenjacke damen", "parka herren"), (0.3, 1.2),
             _WEAR),
    Category(("Regenjacke", "Outdoorjacke", "Softshelljacke"), ("regenjacke", "outdoorjacke wasserdicht"), (0.3, 1.1),
             _WEAR),
    Category(("Jeans", "Slim-Fit-Jeans", "Stretchjeans"), ("jeans", "jeans herren", "skinny jeans damen"), (0.2, 0.9),
             _WEAR),
    Category(("Abendkleid", "Cocktailkleid", "Sommerkleid"), ("abendkleid", "kleid", "cocktailkleid lang"), (0.3, 1.2),
             ("für Damen", "in Übergrößen", "für Hochzeitsgäste", "")),
    Category(("Brautkleid", "Hochzeitskleid", "Standesamtkleid"), ("brautkleid", "hochzeitskleid", "brautmode"),
             (0.5, 1.8), ("im Vintage-Stil", "mit Spitze", "schlicht", "")),
    Category(("Wanderschuhe", "Trekkingschuhe", "Bergstiefel"), ("wanderschuhe", "trekkingschuhe", "wanderstiefel"),
             (0.4, 1.4), _WEAR),
    Category(("Armbanduhr", "Automatikuhr", "Smartwatch"), ("armbanduhr", "uhr herren", "automatikuhr"), (0.5, 2.0),
             ("für Damen", "für Herren", "wasserdicht", "")),
    Category(("Brille", "Gleitsichtbrille", "Sonnenbrille"), ("brille", "gleitsichtbrille", "sonnenbrille"), (0.6, 2.4),
             _ANY),
    # Sport und Freizeit
    Category(("Fahrrad", "Trekkingrad", "Citybike"), ("fahrrad", "trekkingrad", "citybike kaufen"), (0.6, 2.5), _WEAR),
    Category(("E-Bike", "Pedelec", "E-Mountainbike"), ("e-bike", "pedelec", "e-bike damen"), (1.0, 3.5), _ANY),
    Category(("Kinderfahrrad", "Laufrad", "Jugendfahrrad"), ("kinderfahrrad", "laufrad", "kinderfahrrad 20 zoll"),
             (0.3, 1.0), ("ab 3 Jahren", "ab 6 Jahren", "mit Stützrädern", "")),
    Category(("Laufband", "Heimtrainer", "Crosstrainer"), ("laufband", "heimtrainer", "crosstrainer"), (0.5, 1.8),
             _ANY),
    Category(("Yogamatte", "Gymnastikmatte", "Pilatesmatte"), ("yogamatte", "gymnastikmatte", "yoga matte"), (0.2, 0.7),
             _ANY),
    Category(("Zelt", "Campingzelt", "Kuppelzelt"), ("zelt", "campingzelt", "zelt 4 personen"), (0.3, 1.1), _ANY),
    Category(("Fitnessstudio", "Fitnesskurs", "Personal Training"), ("fitnessstudio", "fitness", "gym in der naehe"),
             (0.8, 2.5), _ANY, service=True),
    Category(("Skiurlaub", "Skipass", "Skikurs"), ("skiurlaub", "skifahren", "skikurs kinder"), (0.6, 2.0), _TRAVEL,
             service=True),
    Category(("Golfschläger", "Golfset", "Golfkurs"), ("golfschlaeger", "golf", "golfkurs"), (0.5, 1.8), _ANY),
    Category(("Angelrute", "Angelset", "Angelzubehör"), ("angelrute", "angeln", "angelzubehoer"), (0.2, 0.8), _ANY),
    # Elektronik
    Category(("Smartphone", "Handy", "5G-Smartphone"), ("smartphone", "handy", "handy ohne vertrag"), (1.0, 3.5), _ANY),
    Category(("Handyvertrag", "Mobilfunktarif", "Prepaid-Tarif"), ("handyvertrag", "handytarif", "sim karte"),
             (1.5, 5.0), _ANY, service=True),
    Category(("Laptop", "Notebook", "Gaming-Laptop"), ("laptop", "notebook", "gaming laptop"), (0.8, 3.0), _ANY),
    Category(("Fernseher", "4K-Fernseher", "OLED-TV"), ("fernseher", "4k fernseher", "smart tv"), (0.8, 2.8), _HOME),
    Category(("Kopfhörer", "Bluetooth-Kopfhörer", "In-Ear-Kopfhörer"), ("kopfhoerer", "bluetooth kopfhoerer", "in ear"),
             (0.3, 1.2), _ANY),
    Category(("Digitalkamera", "Spiegelreflexkamera", "Systemkamera"), ("kamera", "spiegelreflexkamera",
             "systemkamera"),
             (0.6, 2.0), _ANY),
    Category(("Spielkonsole", "Konsolenspiel", "Gaming-Controller"), ("spielkonsole", "konsole", "ps5"), (0.6, 2.0),
             _ANY),
    Category(("Drucker", "Laserdrucker", "Tintenstrahldrucker"), ("drucker", "laserdrucker", "druckerpatronen"),
             (0.4, 1.5), _ANY),
    Category(("Tablet", "Android-Tablet", "Kinder-Tablet"), ("tablet", "tablet guenstig", "ipad"), (0.6, 2.2), _ANY),
    Category(("Internetanschluss", "Glasfaser-Tarif", "DSL-Tarif"), ("internet", "dsl", "glasfaser"), (2.0, 6.0),
             _ANY, service=True),
    # Haushalt und Wohnen
    Category(("Kaffeevollautomat", "Espressomaschine", "Kaffeemaschine"),
             ("kaffeevollautomat", "kaffeemaschine", "espressomaschine"), (0.6, 2.2), _HOME),
    Category(("Waschmaschine", "Waschtrockner", "Toplader"), ("waschmaschine", "waschtrockner", "waschmaschine kaufen"),
             (0.6, 2.2), _HOME),
    Category(("Kühlschrank", "Kühl-Gefrier-Kombination", "Gefrierschrank"), ("kuehlschrank", "gefrierschrank"),
             (0.6, 2.2), _HOME),
    Category(("Staubsauger", "Saugroboter", "Akku-Staubsauger"), ("staubsauger", "saugroboter", "akkusauger"),
             (0.4, 1.6), _HOME),
    Category(("Sofa", "Ecksofa", "Schlafsofa"), ("sofa", "couch", "ecksofa"), (0.5, 2.0), _HOME),
    Category(("Matratze", "Boxspringbett", "Lattenrost"), ("matratze", "boxspringbett", "matratze 140x200"), (0.8, 3.0),
             _HOME),
    Category(("Einbauküche", "Küchenzeile", "Küchenplanung"), ("kueche", "einbaukueche", "kuechen guenstig"),
             (1.0, 3.5), _HOME, service=True),
    Category(("Esstisch", "Esszimmerstühle", "Ausziehtisch"), ("esstisch", "stuehle", "esstisch holz"), (0.4, 1.5),
             _HOME),
    Category(("Kleiderschrank", "Schwebetürenschrank", "Garderobe"), ("kleiderschrank", "schrank", "garderobe"),
             (0.4, 1.5), _HOME),
    Category(("Deckenleuchte", "Stehlampe", "LED-Lampe"), ("lampe", "deckenleuchte", "led lampe"), (0.2, 0.8), _HOME),
    Category(("Teppich", "Läufer", "Hochflorteppich"), ("teppich", "teppich wohnzimmer", "laeufer"), (0.2, 0.8), _HOME),
    Category(("Bettwäsche", "Spannbettlaken", "Bettdecke"), ("bettwaesche", "bettdecke", "spannbettlaken"), (0.2, 0.7),
             _HOME),
    # Garten und Heimwerken
    Category(("Gartenmöbel", "Loungemöbel", "Gartentisch"), ("gartenmoebel", "gartentisch", "lounge garten"),
             (0.4, 1.5), _HOME),
    Category(("Rasenmäher", "Mähroboter", "Akku-Rasenmäher"), ("rasenmaeher", "maehroboter", "rasenmaeher akku"),
             (0.4, 1.5), _ANY),
    Category(("Gartenhaus", "Gerätehaus", "Gewächshaus"), ("gartenhaus", "geraetehaus", "gewaechshaus"), (0.6, 2.0),
             _ANY),
    Category(("Grill", "Gasgrill", "Holzkohlegrill"), ("grill", "gasgrill", "grill kaufen"), (0.4, 1.5), _ANY),
    Category(("Akkuschrauber", "Bohrmaschine", "Werkzeugset"), ("akkuschrauber", "bohrmaschine", "werkzeug"),
             (0.3, 1.2), _ANY),
    Category(("Pflanzen", "Blumenzwiebeln", "Obstbäume"), ("pflanzen", "blumen", "obstbaum kaufen"), (0.2, 0.8), _ANY),
    Category(("Pool", "Aufstellpool", "Whirlpool"), ("pool", "aufstellpool", "whirlpool garten"), (0.5, 1.8), _ANY),
    Category(("Markise", "Sonnensegel", "Terrassenüberdachung"), ("markise", "sonnensegel", "terrassendach"), (0.6,
             2.2),
             _HOME),
    # Reisen
    Category(("Flug nach Berlin", "Billigflug nach Hamburg", "Flug nach Mallorca"),
             ("flug berlin", "billigflug", "fluege mallorca"), (0.5, 2.0), _TRAVEL, service=True),
    Category(("Hotel in München", "Hotel in Berlin", "Wellnesshotel"), ("hotel muenchen", "hotel berlin", "wellness"),
             (0.6, 2.4), _TRAVEL, service=True),
    Category(("Ferienwohnung an der Ostsee", "Ferienhaus an der Nordsee", "Ferienwohnung in Bayern"),
             ("ferienwohnung ostsee", "ferienhaus nordsee", "urlaub bayern"), (0.4, 1.8), _TRAVEL, service=True),
    Category(("Pauschalreise", "Kreuzfahrt", "Rundreise"), ("pauschalreise", "kreuzfahrt", "urlaub buchen"),
             (0.8, 3.0), _TRAVEL, service=True),
    Category(("Mietwagen", "Autovermietung", "Transporter mieten"), ("mietwagen", "auto mieten", "transporter mieten"),
             (0.6, 2.2), _TRAVEL, service=True),
    Category(("Bahnticket", "Fernbus", "Zugreise"), ("bahn ticket", "fernbus", "zug fahrkarte"), (0.3, 1.0),
             _TRAVEL, service=True),
    # Finanzen und Versicherungen
    Category(("Autoversicherung", "Kfz-Versicherung", "Motorradversicherung"),
             ("kfz versicherung", "autoversicherung", "versicherung vergleich"), (1.5, 6.0), _ANY, service=True),
    Category(("Girokonto", "kostenloses Konto", "Geschäftskonto"), ("girokonto", "kostenloses konto", "bankkonto"),
             (1.2, 5.0), _ANY, service=True),
    Category(("Kredit", "Ratenkredit", "Autokredit"), ("kredit", "kredit vergleich", "ratenkredit"), (2.0, 7.0),
             _ANY, service=True),
    Category(("Baufinanzierung", "Immobilienkredit", "Anschlussfinanzierung"),
             ("baufinanzierung", "hypothek", "immobilienkredit"), (2.0, 7.0), _ANY, service=True),
    Category(("Haftpflichtversicherung", "Hausratversicherung", "Rechtsschutzversicherung"),
             ("haftpflicht", "hausrat versicherung", "rechtsschutz"), (1.2, 4.5), _ANY, service=True),
    Category(("Krankenversicherung", "Zahnzusatzversicherung", "private Krankenversicherung"),
             ("krankenversicherung", "zahnzusatzversicherung", "pkv"), (1.5, 6.0), _ANY, service=True),
    Category(("Stromanbieter", "Ökostrom-Tarif", "Gasanbieter"), ("strom", "stromanbieter", "oekostrom"), (1.0, 4.0),
             _ANY, service=True),
    Category(("Depot", "ETF-Sparplan", "Tagesgeldkonto"), ("depot", "etf sparplan", "tagesgeld"), (1.0, 4.0), _ANY,
             service=True),
    # Auto und Mobilität
    Category(("Gebrauchtwagen", "Jahreswagen", "Neuwagen"), ("gebrauchtwagen", "auto kaufen", "jahreswagen"),
             (0.6, 2.5), _ANY),
    Category(("Autoreifen", "Winterreifen", "Ganzjahresreifen"), ("reifen", "winterreifen", "allwetterreifen"),
             (0.4, 1.5), _ANY),
    Category(("Autowerkstatt", "Inspektion", "TÜV-Termin"), ("werkstatt", "inspektion auto", "tuev"), (0.5, 1.8),
             _ANY, service=True),
    Category(("Motorrad", "Motorroller", "E-Roller"), ("motorrad", "roller", "e scooter"), (0.5, 1.8), _ANY),
    # Immobilien und Dienstleistungen
    Category(("Mietwohnung", "2-Zimmer-Wohnung", "Altbauwohnung"), ("wohnung mieten", "mietwohnung",
             "2 zimmer wohnung"),
             (0.5, 2.0), _ANY, service=True),
    Category(("Eigentumswohnung", "Einfamilienhaus", "Baugrundstück"), ("haus kaufen", "eigentumswohnung",
             "grundstueck"),
             (0.8, 3.0), _ANY, service=True),
    Category(("Umzugsfirma", "Umzugsservice", "Umzugskartons"), ("umzug", "umzugsfirma", "umzugskartons"), (0.8, 3.0),
             _ANY, service=True),
    Category(("Handwerker", "Malerbetrieb", "Elektriker"), ("handwerker", "maler", "elektriker notdienst"), (0.8, 3.0),
             _ANY, service=True),
    Category(("Schlüsseldienst", "Türöffnung", "Schließanlage"), ("schluesseldienst", "tuer oeffnen", "schloss"),
             (1.5, 5.0), _ANY, service=True),
    Category(("Steuerberater", "Steuererklärung", "Lohnsteuerhilfe"), ("steuerberater", "steuererklaerung"),
             (1.0, 3.5), _ANY, service=True),
    Category(("Rechtsanwalt", "Fachanwalt für Arbeitsrecht", "Scheidungsanwalt"), ("anwalt", "rechtsanwalt"),
             (1.5, 5.0), _ANY, service=True),
    # Gesundheit, Bildung, Familie
    Category(("Zahnarzt", "Zahnreinigung", "Zahnimplantat"), ("zahnarzt", "zahnreinigung", "implantat"), (0.8, 3.0),
             _ANY, service=True),
    Category(("Hörgerät", "Hörtest", "Hörakustiker"), ("hoergeraet", "hoertest", "hoerakustiker"), (0.8, 2.8), _ANY,
             service=True),
    Category(("Sprachkurs Englisch", "Spanischkurs", "Deutschkurs"), ("englisch lernen", "sprachkurs",
             "spanisch lernen"),
             (0.4, 1.6), _ANY, service=True),
    Category(("Nachhilfe", "Mathe-Nachhilfe", "Lernförderung"), ("nachhilfe", "mathe nachhilfe"), (0.4, 1.5),
             ("für Schüler", "für Abiturienten", "online", ""), service=True),
    Category(("Fernstudium", "Weiterbildung", "Online-Kurs"), ("fernstudium", "weiterbildung", "online kurs"),
             (1.0, 3.5), _ANY, service=True),
    Category(("Kinderwagen", "Buggy", "Babyschale"), ("kinderwagen", "buggy", "babyschale"), (0.4, 1.5),
             ("für Neugeborene", "für Zwillinge", "für die Stadt", "")),
    Category(("Spielzeug", "Holzspielzeug", "Lernspielzeug"), ("spielzeug", "holzspielzeug", "geschenk kind"),
             (0.2, 0.8), ("ab 1 Jahr", "ab 3 Jahren", "für Schulkinder", "")),
    Category(("Hundefutter", "Trockenfutter für Hunde", "Nassfutter"), ("hundefutter", "trockenfutter hund"),
             (0.2, 0.9), ("für Welpen", "für Senioren-Hunde", "getreidefrei", "")),
    Category(("Katzenfutter", "Katzenstreu", "Kratzbaum"), ("katzenfutter", "katzenstreu", "kratzbaum"), (0.2, 0.8),
             ("für Kitten", "für Wohnungskatzen", "")),
    Category(("Blumenversand", "Blumenstrauß", "Rosen"), ("blumen verschicken", "blumenstrauss", "rosen bestellen"),
             (0.4, 1.6), ("zum Geburtstag", "zum Muttertag", "zur Hochzeit", ""), service=True),
    Category(("Weinversand", "Rotwein", "Weinpaket"), ("wein", "rotwein", "wein online kaufen"), (0.3, 1.0), _ANY),
)
GOODS_ATTRIBUTES = ("günstig", "hochwertig", "leicht", "nachhaltig", "preiswert", "robust", "modern", "bewährt", "neu",
              "im Angebot", "vom Testsieger", "in großer Auswahl")
SERVICE_ATTRIBUTES = ("günstig", "seriös", "schnell", "mit Bestpreis-Garantie", "mit Top-Bewertung", "im Angebot",
                      "kostenlos vergleichen", "ohne versteckte Kosten")
GOODS_OFFERS = (
    "Jetzt bis zu {p} % Rabatt sichern.",
    "Kostenloser Versand ab {e} €.",
    "Große Auswahl, schnelle Lieferung.",
    "Testsieger im Vergleich. Jetzt online bestellen.",
    "Nur diese Woche: {p} % auf alles.",
    "30 Tage Rückgaberecht, Kauf auf Rechnung.",
)
SERVICE_OFFERS = (
    "Angebote vergleichen und sparen.",
    "Beratung vor Ort und online.",
    "Unverbindlich anfragen und Termin vereinbaren.",
    "Über {n} zufriedene Kunden.",
    "Jetzt bis zu {p} % sparen.",
    "Schnell und einfach online buchen.",
)
GOODS_SELLERS = ("im Online-Shop", "beim Fachhändler", "im Outlet", "im Versandhandel", "direkt vom Hersteller")
SERVICE_SELLERS = ("online", "in Ihrer Nähe", "beim Testsieger", "im Vergleichsportal", "vom Anbieter aus Ihrer Region")


def sample_ads(n: int = 3000, seed: int = 7) -> list[dict]:
    """`n` distinct ads spread evenly over `CATEGORIES`: ad_id, category, title, description, bid (EUR, > 0),
    p_click (0.005–0.09)."""
    rng = random.Random(seed)
    ads, seen = [], set()
    i = 0
    while len(ads) < n:
        cat_index = i % len(CATEGORIES)
        cat = CATEGORIES[cat_index]
        i += 1
        attributes, offers, sellers = ((SERVICE_ATTRIBUTES, SERVICE_OFFERS, SERVICE_SELLERS) if cat.service
                                       else (GOODS_ATTRIBUTES, GOODS_OFFERS, GOODS_SELLERS))
        noun, audience, attribute = rng.choice(cat.nouns), rng.choice(cat.audiences), rng.choice(attributes)
        title = " ".join(x for x in (noun, audience, attribute) if x)
        offer = rng.choice(offers).format(p=rng.choice((10, 15, 20, 30, 40, 50)), e=rng.choice((20, 29, 49)),
                                          n=rng.choice(("10.000", "50.000", "100.000")))
        description = f"{noun} {rng.choice(sellers)}. {offer}"
        if (title, description) in seen and i < 50 * n:  # a repeat adds nothing to a demo catalog
            continue
        seen.add((title, description))
        quality = len(title) / 40
        lo, hi = cat.bid
        ads.append({
            "ad_id": f"sample-{len(ads):05d}",
            "category": cat.nouns[0],
            "title": title,
            "description": description,
            "bid": round(rng.uniform(lo, hi), 2),
            "p_click": round(min(0.09, max(0.005, rng.gauss(0.02 + 0.02 * quality, 0.01))), 4),
        })
    return ads


def write_sample_catalog(path: Path, n: int = 3000, seed: int = 7) -> Path:
    """Write `sample_ads(n, seed)` as JSONL (what `twinrank index build --catalog` reads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for ad in sample_ads(n, seed):
            f.write(json.dumps(ad, ensure_ascii=False) + "\n")
    return path
