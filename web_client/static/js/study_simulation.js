// The simulation trials' figures of summary.json (`simulation`, web_client/study/analysis.py) as
// table rows for the researcher's page: per condition, phase and split (all trials, the model right,
// the model wrong), accuracy and confidence with their bootstrap 95% intervals, calibration (accuracy
// at each confidence level) and the condition's utility against the control. Pure (tested in Node).

const SPLITS = [["all", "all trials"], ["model_correct", "model right"], ["model_incorrect", "model wrong"]];

const pct = (v) => (v == null ? "–" : `${Math.round(v * 100)}%`);
const num = (v) => (v == null ? "–" : v.toFixed(1));

// "62% [48–75%]": a figure and its interval (none with fewer than two participants).
export function withInterval(estimate, format = pct) {
  if (!estimate || estimate.value == null) return "–";
  const interval = estimate.low == null ? "" : ` [${format(estimate.low)}–${format(estimate.high)}]`;
  return `${format(estimate.value)}${interval}`;
}

export function calibrationText(calibration) {
  return Object.entries(calibration || {}).filter(([, c]) => c.trials)
    .map(([level, c]) => `${level}: ${pct(c.accuracy)} (${c.trials})`).join(", ") || "–";
}

export function simulationRows(simulation) {
  const rows = [];
  for (const [condition, figures] of Object.entries(simulation?.conditions || {})) {
    for (const phase of ["pre", "post"]) {
      for (const [split, name] of SPLITS) {
        const f = figures[phase]?.[split];
        if (!f || !f.trials) continue;
        rows.push([condition, phase, name, String(f.trials), withInterval(f.accuracy),
          withInterval(f.confidence, num), calibrationText(f.calibration),
          phase === "post" && split === "all" && figures.utility ? withInterval(figures.utility) : ""]);
      }
    }
  }
  return rows;
}
