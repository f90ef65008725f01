"""The forgetting guard: how far a tuned language model moved from the base's general sense of language,
measured on fixed sentences far from any catalog, and whether a round may serve with it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# 24 pairs of everyday sentences, each pair saying the same thing in other words: a general-purpose encoder
# puts each sentence nearest its partner and orders the other similarities sensibly; tuning on a catalog can
# erode both.
PARAPHRASES = [
    ("The train to the airport leaves every twenty minutes.", "Airport trains depart three times an hour."),
    ("Please remember to water the plants on Friday.", "Don't forget the plants need watering this Friday."),
    ("The committee approved the new budget after a long debate.", "After lengthy discussion the panel passed the budget."),
    ("Symptoms of the flu include fever and fatigue.", "Influenza usually brings a high temperature and tiredness."),
    ("How do I reset my password?", "What are the steps to change a forgotten login password?"),
    ("The river flooded the lower part of the village.", "Floodwater from the river covered the village's low streets."),
    ("She plays the violin in a string quartet.", "She is the violinist of a four-piece string ensemble."),
    ("Interest rates rose for the third time this year.", "Borrowing costs went up again, the third increase this year."),
    ("The recipe needs two eggs and a cup of flour.", "You will need a cup of flour and a couple of eggs for this dish."),
    ("Our team won the match in extra time.", "We clinched the game after the regular time had run out."),
    ("The museum is closed on Mondays.", "On Mondays the museum does not open."),
    ("He fixed the bicycle chain with a small tool.", "Using a little tool, he repaired the chain of his bike."),
    ("Mountains were covered in fresh snow this morning.", "New snow blanketed the peaks at dawn."),
    ("The software update improves battery life.", "After the update the phone's battery lasts longer."),
    ("A quiet cafe with good coffee near the station.", "A calm coffee shop by the railway station serves great coffee."),
    ("The children built a sandcastle at the beach.", "The kids made a castle out of sand by the sea."),
    ("Vaccines train the immune system to recognise a virus.", "A vaccine teaches the body's defences to spot a virus."),
    ("The contract must be signed by both parties.", "Both sides have to sign the agreement."),
    ("Thunderstorms are expected later this afternoon.", "Storms with thunder are forecast for later today."),
    ("The novel was translated into thirty languages.", "The book has been published in thirty different languages."),
    ("The printer on the second floor is out of paper.", "There is no paper left in the upstairs printer."),
    ("Traffic was heavy on the motorway this evening.", "Tonight the highway was jammed with cars."),
    ("The bakery sells fresh bread every morning.", "Each morning the bakery has freshly baked loaves."),
    ("Please turn off the lights when you leave.", "Switch the lights off on your way out, please."),
]
PROBE = [s for pair in PARAPHRASES for s in pair]  # 48 sentences, partners side by side


@dataclass(frozen=True)
class Drift:
    mean_cosine: float  # mean cosine between base and tuned embeddings of the same sentence (1.0: unchanged)
    similarity_spearman: float  # rank correlation of all pairwise similarities, base vs tuned (1.0: same order)
    paraphrases_found: int  # sentences whose nearest other sentence is still their partner (tuned encoder)
    paraphrases_base: int  # the same count for the base encoder

    def to_dict(self) -> dict:
        return {"drift_mean_cosine": self.mean_cosine, "drift_similarity_spearman": self.similarity_spearman,
                "drift_paraphrases_found": self.paraphrases_found, "drift_paraphrases_base": self.paraphrases_base,
                "drift_probe_sentences": len(PROBE)}


def measure_drift(base, tuned) -> Drift:
    """Both encoders embed the probe (unit rows); compares what the tuned one kept of the base's judgement."""
    a, b = base.encode(PROBE), tuned.encode(PROBE)
    return drift_between(a, b)


def drift_between(a: np.ndarray, b: np.ndarray) -> Drift:
    """a, b: (len(PROBE), dim) unit rows of the base and the tuned encoder (dims may differ)."""
    from scipy.stats import spearmanr
    iu = np.triu_indices(len(a), 1)
    rho = float(spearmanr((a @ a.T)[iu], (b @ b.T)[iu]).statistic)
    cosine = float((a * b).sum(1).mean()) if a.shape == b.shape else float("nan")
    return Drift(cosine, rho, _paraphrases_found(b), _paraphrases_found(a))


def _paraphrases_found(vectors: np.ndarray) -> int:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    partner = np.arange(len(vectors)) ^ 1  # 0<->1, 2<->3, ...
    return int((sims.argmax(1) == partner).sum())


def guard_reason(report: dict, min_spearman: float) -> str | None:
    """Why a round's tuned encoder may not serve (None: it may). Reads the round's drift figures."""
    rho = report.get("drift_similarity_spearman")
    if rho is None or rho >= min_spearman:
        return None
    return (f"kept but not activated: its tuned language model drifted from the base's general sense of language "
            f"(similarity Spearman {rho:.2f} on {len(PROBE)} everyday sentences, below the forgetting guard's "
            f"{min_spearman:.2f}; paraphrases still matched: {report.get('drift_paraphrases_found')} of "
            f"{len(PROBE)}, base {report.get('drift_paraphrases_base')}); lower min_drift_spearman or use LoRA "
            "tuning, or activate it by hand")
