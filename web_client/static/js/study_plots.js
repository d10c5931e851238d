// The study summary's plots as numbers (no DOM; tested in Node): a slope chart of each
// participant's agreement with the model's map before and after, on -1 .. 1.

export const PLOT = { width: 320, height: 200, pad: 28 };

// y of an agreement value (-1 at the bottom, 1 at the top).
export function agreementY(value, { height, pad } = PLOT) {
  return pad + (1 - (value + 1) / 2) * (height - 2 * pad);
}

// One line per participant with both figures: {id, x1, y1, x2, y2, up} (up: moved toward the model).
export function slopeLines(participants, plot = PLOT) {
  return participants
    .filter((p) => p.before_agreement != null && p.after_agreement != null)
    .map((p) => ({ id: p.participant_id, x1: plot.pad, x2: plot.width - plot.pad,
      y1: agreementY(p.before_agreement, plot), y2: agreementY(p.after_agreement, plot),
      up: p.after_agreement > p.before_agreement }));
}
