"""While a recruiter has the conversation, every candidate message goes to them, not to the bot.

`handoff_active` is set by the action that opens a handoff and cleared when it ends. As long as it
is set, this policy outranks the others: after each candidate message it predicts the relay action
(which posts the message to the recruiter's Slack thread), and after that it predicts listening.
The message is still classified and recorded in the conversation, so a candidate who says "thanks,
that's all" can end the handoff, and the recruiter sees everything.
"""

from __future__ import annotations

from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class HandoffPolicy(Policy):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # Above RulePolicy (6): a rule must not answer a candidate a recruiter is talking to.
        return {"priority": 7, "slot": "handoff_active", "relay_action": "action_relay_to_recruiter"}

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 execution_context: ExecutionContext, featurizer: Any = None) -> None:
        super().__init__(config, model_storage, resource, execution_context, featurizer)

    def train(self, training_trackers: list[TrackerWithCachedStates], domain: Domain, **kwargs: Any) -> Resource:
        self.persist()  # nothing to learn: the behaviour is fixed
        return self._resource

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource):
            pass

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> HandoffPolicy:
        return cls(config, model_storage, resource, execution_context)

    def predict_action_probabilities(self, tracker: DialogueStateTracker, domain: Domain,
                                     rule_only_data: dict[str, Any] | None = None,
                                     **kwargs: Any) -> PolicyPrediction:
        result = self._default_predictions(domain)
        relay = self.config["relay_action"]
        latest = tracker.latest_action_name
        if latest == relay:
            # The relay has run (and may have ended the handoff): wait for the candidate either way.
            result[domain.index_for_action(ACTION_LISTEN_NAME)] = 1.0
        elif tracker.get_slot(self.config["slot"]):
            action = relay if latest == ACTION_LISTEN_NAME else ACTION_LISTEN_NAME
            result[domain.index_for_action(action)] = 1.0
        return self._prediction(result)
