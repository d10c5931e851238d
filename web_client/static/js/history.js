// The session's experiments: the steps in order, each painted on its parent's mask, the one on the
// canvas, and what each answer says of a class. Pure (tested in Node).

// A class's probability in one answer: from `tracked`, else from the top-k; null when unknown.
export function probabilityOf(result, classIndex) {
  const hit = (result.tracked || []).find((p) => p.class_index === classIndex)
    || result.predictions.find((p) => p.class_index === classIndex);
  return hit ? hit.probability : null;
}

export class History {
  constructor() { this.clear(); }

  clear() {
    this.steps = [];
    this.current = null; // the index of the step whose mask is on the canvas
  }

  // Adds a step painted on the current one (the last, or the one brought back); returns its index.
  add(step) {
    const index = this.steps.length;
    this.steps.push({ ...step, parent: this.current ?? index - 1 });
    this.current = index;
    return index;
  }

  select(index) { this.current = index; }

  // A class pinned after the fact: the unpainted steps' answers get its probability from the
  // unpainted photo's, which has every class (`baseline`: Map(index -> probability)).
  backfill(classIndex, label, baseline) {
    for (const step of this.steps) {
      if (step.mask || probabilityOf(step.result, classIndex) != null) continue;
      step.result.tracked = [...(step.result.tracked || []),
        { class_index: classIndex, label, probability: baseline.get(classIndex) ?? 0 }];
    }
  }

  // A class's probability through the steps (null where unknown), for the chart.
  trace(classIndex) { return this.steps.map((s) => probabilityOf(s.result, classIndex)); }
}

// A pinned class on another model: the same index where that model gives it the same label
// (ImageNet's two cranes stay apart), else its first class of that name, or null when it has no
// such class. Replay follows a pin the same way (the CLI's tracked_on).
export function pinOn(pinned, labels) {
  if (!pinned) return null;
  if (labels[pinned.class_index] === pinned.label) return { class_index: pinned.class_index, label: pinned.label };
  const index = labels.indexOf(pinned.label);
  return index < 0 ? null : { class_index: index, label: pinned.label };
}
