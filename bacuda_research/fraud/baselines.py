"""Classic baselines for ranked declaration selection, all fitted on the training split only.

- ``random``: a seeded uniform score (the floor any model must beat);
- ``risky``: the number of risk flags a declaration raises (the customs officer's profile rules);
- ``xgboost``: the DATE XGBoost stage's illicit probability;
- ``xgb_lr``: logistic regression on one-hot leaves of that stage (He et al., 2014);
- ``xgb_revenue``: an XGBoost regressor on log1p(revenue) over all training rows, ranked by
  predicted revenue: what a user tries first when revenue is what matters;
- ``largest``: "inspect the biggest declarations first", no model: ranks by one column of the
  declaration (``model.by``: a role, ``taxes`` by default, falling back to ``value`` when the data
  has no taxes): the rule customs officers already know, which every revenue claim must beat;
- ``xgb_expected``: the ``xgboost`` classifier's P(illicit) x E[revenue | illicit] from an XGBoost
  regressor of revenue (currency units) fitted on the illicit training rows: DATE's
  ``model.revenue_ranking=expected`` decision rule (same regressor, same settings) on XGBoost.

Each exposes ``fit(train: Split) -> self`` and ``predict(split: Split) -> (scores, revenue or None)``.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np

from bacuda_research.declarations.declared import ROLES
from bacuda_research.fraud import xgb_stage
from bacuda_research.fraud.inputs import expected_revenue

log = logging.getLogger("bacuda_research")


class RandomBaseline:
    def __init__(self, seed: int = 0, **_: Any) -> None:
        self.seed = seed

    def fit(self, train) -> "RandomBaseline":
        return self

    def predict(self, split) -> tuple[np.ndarray, None]:
        # a stream per split (keyed by its ids) so scores do not depend on call order
        import zlib

        ids = split.frame["sgd.id"].astype(str)
        salt = zlib.crc32("|".join(ids.iloc[[0, -1]]).encode()) if len(ids) else 0
        return np.random.default_rng([self.seed, salt]).random(len(split.frame)), None


class RiskyBaseline:
    def __init__(self, flag_columns: list[str], **_: Any) -> None:
        self.flag_columns = flag_columns

    def fit(self, train) -> "RiskyBaseline":
        return self

    def predict(self, split) -> tuple[np.ndarray, None]:
        return split.frame[self.flag_columns].to_numpy(np.float64).sum(axis=1), None


class XGBoostBaseline:
    def __init__(self, xgb: Mapping[str, Any], feature_names: list[str], seed: int = 0,
                 threads: int | None = None, cache_dir: str | None = None, **_: Any) -> None:
        self.params, self.rounds = xgb_stage.xgb_params(xgb, "binary:logistic", seed, threads)
        self.feature_names, self.cache_dir = feature_names, cache_dir
        self.booster = None

    def fit(self, train) -> "XGBoostBaseline":
        self.booster = xgb_stage.fit_booster(train.X, train.illicit, self.params, self.rounds,
                                             self.feature_names, self.cache_dir)
        return self

    def predict(self, split) -> tuple[np.ndarray, None]:
        return xgb_stage.predict(self.booster, split.X, self.feature_names), None


class XGBLRBaseline(XGBoostBaseline):
    def __init__(self, xgb: Mapping[str, Any], lr: Mapping[str, Any] | None = None, **kw: Any) -> None:
        super().__init__(xgb, **kw)
        self.lr_params = dict(lr or {})

    def fit(self, train) -> "XGBLRBaseline":
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import OneHotEncoder

        super().fit(train)
        self.onehot = OneHotEncoder(handle_unknown="ignore")
        Z = self.onehot.fit_transform(xgb_stage.leaves(self.booster, train.X, self.feature_names))
        with warnings.catch_warnings(record=True) as caught:
            # the reference settings (lbfgs, 100 iterations) stop before convergence on DATE data
            warnings.simplefilter("always", ConvergenceWarning)
            self.lr = LogisticRegression(**self.lr_params).fit(Z, train.illicit)
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            log.info("xgb_lr: logistic regression stopped at max_iter=%s before convergence "
                     "(reference setting; raise model.lr.max_iter to converge)", self.lr_params.get("max_iter", 100))
        return self

    def predict(self, split) -> tuple[np.ndarray, None]:
        Z = self.onehot.transform(xgb_stage.leaves(self.booster, split.X, self.feature_names))
        return self.lr.predict_proba(Z)[:, 1], None


class XGBRevenueBaseline(XGBoostBaseline):
    def __init__(self, xgb: Mapping[str, Any], seed: int = 0, threads: int | None = None, **kw: Any) -> None:
        super().__init__(xgb, seed=seed, threads=threads, **kw)
        self.params, self.rounds = xgb_stage.xgb_params(xgb, "reg:squarederror", seed, threads)

    def fit(self, train) -> "XGBRevenueBaseline":
        self.booster = xgb_stage.fit_booster(train.X, np.log1p(train.revenue), self.params, self.rounds,
                                             self.feature_names, self.cache_dir)
        return self

    def predict(self, split) -> tuple[np.ndarray, np.ndarray]:
        log_rev = xgb_stage.predict(self.booster, split.X, self.feature_names).astype(np.float64)
        revenue = np.expm1(np.maximum(log_rev, 0.0))
        return revenue, revenue


class LargestBaseline:
    """Rank by the size of a declaration: the column of role ``by`` (missing values rank last).

    Without that column (a declared schema with no such role, or a column that is missing on every
    training row) it falls back to ``value`` (CIF); ``column`` says which one ranked.
    """

    FALLBACK = "value"

    def __init__(self, by: str = "taxes", **_: Any) -> None:
        if by not in ROLES:
            raise ValueError(f"model.by={by!r}: expected a role, one of {sorted(ROLES)}")
        self.by, self.column = by, None

    def fit(self, train) -> "LargestBaseline":
        for role in (self.by, self.FALLBACK):
            col = ROLES[role]
            if col in train.frame and train.frame[col].notna().any():
                if role != self.by:
                    log.warning("largest: the data has no %s column (role %s); ranking by %s (role %s)",
                                ROLES[self.by], self.by, col, role)
                self.column = col
                return self
        raise ValueError(f"model=largest: the data has neither role {self.by!r} nor {self.FALLBACK!r} to rank by")

    def predict(self, split) -> tuple[np.ndarray, None]:
        # amounts are non-negative (validated), so -1 puts a missing amount below every real one
        return np.nan_to_num(split.frame[self.column].to_numpy(np.float64), nan=-1.0), None


class XGBExpectedBaseline(XGBoostBaseline):
    """P(illicit) of the ``xgboost`` classifier x E[revenue | illicit]; ranks and predicts revenue by it."""

    def __init__(self, xgb: Mapping[str, Any], revenue_given_illicit: Mapping[str, Any], seed: int = 0,
                 threads: int | None = None, **kw: Any) -> None:
        super().__init__(xgb, seed=seed, threads=threads, **kw)
        self.given_params, self.given_rounds = xgb_stage.xgb_params(revenue_given_illicit, "reg:squarederror",
                                                                    seed, threads)
        self.given = None

    def fit(self, train) -> "XGBExpectedBaseline":
        super().fit(train)
        pos = train.illicit == 1  # as recipe.fit_date fits it for model.revenue_ranking=expected
        self.given = xgb_stage.fit_booster(train.X[pos], train.revenue[pos].astype(np.float64), self.given_params,
                                           self.given_rounds, self.feature_names, self.cache_dir)
        return self

    def predict(self, split) -> tuple[np.ndarray, np.ndarray]:
        prob = xgb_stage.predict(self.booster, split.X, self.feature_names)
        expected = expected_revenue(prob, xgb_stage.predict(self.given, split.X, self.feature_names))
        return expected, expected


BASELINES = {
    "random": RandomBaseline, "risky": RiskyBaseline, "xgboost": XGBoostBaseline,
    "xgb_lr": XGBLRBaseline, "xgb_revenue": XGBRevenueBaseline, "largest": LargestBaseline,
    "xgb_expected": XGBExpectedBaseline,
}


def build_baseline(kind: str, **kwargs: Any):
    if kind not in BASELINES:
        raise ValueError(f"model.kind={kind!r}: expected one of {sorted(BASELINES)}")
    return BASELINES[kind](**kwargs)
