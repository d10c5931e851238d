"""The simulation figures as the researcher's page shows them (static/js/study_simulation.js), in Node."""

from tests.js import needs_node, run_js

pytestmark = needs_node

SIMULATION = {"conditions": {
    "map": {"pre": {"all": {"trials": 4, "accuracy": {"value": 0.5, "low": 0.25, "high": 0.75, "participants": 2},
                            "confidence": {"value": 3.25, "low": 3.0, "high": 3.5, "participants": 2},
                            "calibration": {"1": {"accuracy": None, "trials": 0}, "3": {"accuracy": 0.5, "trials": 2},
                                            "4": {"accuracy": 1.0, "trials": 1}}},
                    "model_correct": {"trials": 0}},
            "post": {"all": {"trials": 1, "accuracy": {"value": 1.0, "low": None, "high": None, "participants": 1},
                             "confidence": {"value": 5.0, "low": None, "high": None, "participants": 1},
                             "calibration": {}}},
            "utility": {"value": 0.25, "low": -0.5, "high": 1.0, "participants": 3}}}}


def test_rows_with_intervals_calibration_and_utility():
    rows = run_js("study_simulation.js", f"return m.simulationRows({__import__('json').dumps(SIMULATION)});")
    assert rows == [["map", "pre", "all trials", "4", "50% [25%–75%]", "3.3 [3.0–3.5]", "3: 50% (2), 4: 100% (1)", ""],
                    ["map", "post", "all trials", "1", "100%", "5.0", "–", "25% [-50%–100%]"]]
