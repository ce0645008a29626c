"""The webhook pipeline: route -> lock -> dedup -> suppress -> enqueue -> save, one file per
stage, listed in order by :class:`Pipeline`; and the replay of what silences held back."""

from lumen_bridge.pipeline.batch import Answer, Outcome, Summary, Webhook
from lumen_bridge.pipeline.pipeline import Pipeline, Stage
from lumen_bridge.pipeline.replay import Replayer

__all__ = ["Answer", "Outcome", "Pipeline", "Replayer", "Stage", "Summary", "Webhook"]
