"""Attribution methods behind one `Ranker` interface: datamodels, empirical influence, nearest neighbours in
representation space, TracIn, a random same-class order (paper F.2), and peers from their own libraries: TRAK
(`traker`) and influence functions (`dattri`). Every ranker's scores are also a linear predictor of subset
models' margins (`prediction`)."""

from dm.analyze.baselines.datamodel import DatamodelRanker
from dm.analyze.baselines.factory import RANKER_NAMES, RankerFactory, orders_for
from dm.analyze.baselines.influence import InfluenceRanker, empirical_influence
from dm.analyze.baselines.influence_functions import InfluenceFunctionRanker
from dm.analyze.baselines.lasso import fit_lasso, fit_lasso_weights
from dm.analyze.baselines.prediction import LinearPredictor, fit_predictor
from dm.analyze.baselines.random_order import RandomRanker
from dm.analyze.baselines.ranker import Ranker, ranking, top_k
from dm.analyze.baselines.representation import NearestNeighbourRanker
from dm.analyze.baselines.tracin import TracInRanker
from dm.analyze.baselines.trak import TrakRanker
from dm.analyze.baselines.weights import DatamodelWeights, load_weights

__all__ = [
    "RANKER_NAMES", "DatamodelRanker", "DatamodelWeights", "InfluenceFunctionRanker", "InfluenceRanker",
    "LinearPredictor", "NearestNeighbourRanker", "RandomRanker", "Ranker", "RankerFactory", "TracInRanker",
    "TrakRanker", "empirical_influence", "fit_lasso", "fit_lasso_weights", "fit_predictor", "load_weights",
    "orders_for", "ranking", "top_k",
]
