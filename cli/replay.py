"""`twinrank replay`: labelled queries through the service's own auction for a grid of w, relevance floors and
reserves, with a report (replay.json, report.md, plots) to choose the service's defaults from."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.errors import OFFLINE_ERRORS, ExitCode, one_line_errors


def replay(
    predictions: Path | None = typer.Option(None, "--predictions", help="predictions.parquet of a distillation "
                                            "report (e.g. reports/qadsm-de/predictions.parquet)"),
    pairs: Path | None = typer.Option(None, "--pairs", help="instead: a CSV/TSV/JSONL/Parquet file with query, "
                                      "label, relevance (or relevance_<model>) and optionally bid, p_click"),
    out: Path = typer.Option(..., "--out", help="directory for replay.json, report.md and the plots"),
    split: str = typer.Option("test", "--split", help="the predictions split whose queries are replayed"),
    models: str | None = typer.Option(None, "--models", help="comma-separated model columns (default: all)"),
    grid_models: str | None = typer.Option(None, "--grid-models", help="models run over the full grid (default: "
                                           "teacher, student_kd, student_labels, cdssm, tfidf)"),
    weights: str = typer.Option("0,0.005,0.01,0.02,0.05,0.1,0.2,0.5,1", "--weights", help="defect weights w"),
    floors: str = typer.Option("0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8", "--floors", help="relevance floors"),
    reserves: str = typer.Option("none,-0.01,0,0.01,0.02,0.04", "--reserves",
                                 help="reserve scores ('none': no reserve)"),
    top_k: int = typer.Option(3, "--top-k", help="ad slots per query"),
    max_bad_share: float = typer.Option(0.2, "--max-bad-share", help="the Bad-share cap of the recommended "
                                        "setting (most revenue under it)"),
    seed: int = typer.Option(0, "--seed", help="seed of the bid and pClick draws"),
    seed_checks: int = typer.Option(3, "--seed-checks", min=0, help="also replay the recommended setting on this "
                                    "many other seeds"),
    bid_mu: float = typer.Option(0.0, "--bid-mu", help="drawn bids: LogNormal mu (median e^mu EUR)"),
    bid_sigma: float = typer.Option(0.5, "--bid-sigma", help="drawn bids: LogNormal sigma"),
    click_a: float = typer.Option(3.0, "--click-a", help="drawn pClicks: Beta a"),
    click_b: float = typer.Option(97.0, "--click-b", help="drawn pClicks: Beta b (mean a/(a+b) = 0.03)"),
) -> None:
    """Replay an auction grid over labelled queries: revenue, ads shown, Bad share, nDCG, queries with no ad."""
    with one_line_errors(ExitCode.FAILED, OFFLINE_ERRORS):
        from offline.evaluation.auction_replay import parse_numbers, parse_reserves
        from offline.evaluation.replay_inputs import Draws, read_pairs_file, read_prediction_file
        from offline.evaluation.replay_report import ReplayOptions, run_replay, seed_check, write_replay_report

        if (predictions is None) == (pairs is None):
            raise ValueError("give exactly one of --predictions and --pairs")
        if not 0 <= max_bad_share <= 1:
            raise ValueError(f"--max-bad-share must be in [0, 1] (got {max_bad_share:g})")
        opt = ReplayOptions(weights=parse_numbers(weights, "--weights", lo=0),
                            floors=parse_numbers(floors, "--floors", lo=0, hi=1),
                            reserves=parse_reserves(reserves), top_k=top_k,
                            grid_models=_names(grid_models), default_cap=max_bad_share)

        def load(s: int):
            draws = Draws(s, bid_mu, bid_sigma, click_a, click_b)
            if predictions is not None:
                return read_prediction_file(predictions, draws, split, _names(models))
            assert pairs is not None
            data = read_pairs_file(pairs, draws)
            if models is not None:
                keep = _names(models) or []
                unknown = [m for m in keep if m not in data.relevance]
                if unknown:
                    raise ValueError(f"--models: no relevance column for {', '.join(unknown)} in {pairs}")
                data.relevance = {m: data.relevance[m] for m in keep}
            return data

        data = load(seed)
        if opt.grid_models:
            unknown = [m for m in opt.grid_models if m not in data.relevance]
            if unknown:
                raise ValueError(f"--grid-models: {', '.join(unknown)} not among the models "
                                 f"({', '.join(data.relevance)})")
        result = run_replay(data, opt)
        if "drawn" in (data.source["bid"], data.source["p_click"]) and seed_checks:
            seed_check(result, {s: load(s) for s in range(seed + 1, seed + 1 + seed_checks)}, opt.top_k)
        write_replay_report(result, out)
        best = result["recommended"]
        typer.echo(f"replayed {data.source['queries']} queries, {len(result['grid'])} grid rows -> {out}")
        if best is None:
            typer.echo(f"no setting of {result['served_model']} keeps the Bad share <= {max_bad_share:g}")
        else:
            res = "none" if best["reserve"] is None else f"{best['reserve']:g}"
            typer.echo(f"recommended ({result['served_model']}, Bad share <= {max_bad_share:g}): "
                       f"w {best['defect_weight']:g}, floor {best['min_relevance']:g}, reserve {res}: revenue/query "
                       f"{best['revenue_per_query']:.4f}, Bad share {best['bad_share']:.1%}, no ad "
                       f"{best['no_ad_share']:.1%}")


def _names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise ValueError("a model list must name at least one model")
    return names


def register(app: typer.Typer) -> None:
    app.command("replay")(replay)
