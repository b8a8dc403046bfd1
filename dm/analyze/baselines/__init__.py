"""Attribution methods behind one `Ranker` interface: datamodels, empirical influence, nearest neighbours in
representation space, TracIn, and a random same-class order (paper F.2)."""

from dm.analyze.baselines.datamodel import DatamodelRanker
from dm.analyze.baselines.factory import RANKER_NAMES, RankerFactory, orders_for
from dm.analyze.baselines.influence import InfluenceRanker, empirical_influence
from dm.analyze.baselines.lasso import fit_lasso, fit_lasso_weights
from dm.analyze.baselines.random_order import RandomRanker
from dm.analyze.baselines.ranker import Ranker, ranking, top_k
from dm.analyze.baselines.representation import NearestNeighbourRanker
from dm.analyze.baselines.tracin import TracInRanker
from dm.analyze.baselines.weights import DatamodelWeights, load_weights

__all__ = [
    "RANKER_NAMES", "DatamodelRanker", "DatamodelWeights", "InfluenceRanker", "NearestNeighbourRanker",
    "RandomRanker", "Ranker", "RankerFactory", "TracInRanker", "empirical_influence", "fit_lasso",
    "fit_lasso_weights", "load_weights", "orders_for", "ranking", "top_k",
]
