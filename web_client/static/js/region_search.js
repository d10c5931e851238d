// What flips it, what keeps it: the search's answer in words beside the user's own mask, the
// challenge's score against it, the user's best kept per photo, model and fill, and the answer's
// regions as an overlay. Pure (tested in Node); main.js wires it to the page and api.js.

// The share of its confidence a kept class must hold (the page sends it, so the words match).
export const KEEP_SHARE = 0.9;
// The overlay's colour: neither the paint's pink nor the maps' blue-green-yellow.
export const OVERLAY_RGB = [255, 140, 0];
const OVERLAY_FILL_ALPHA = 110;
const OVERLAY_EDGE_PX = 2;

// An area (a share of the model's crop) as the page writes it: "38%", "6.5%", "0.4%".
export function areaText(share) {
  const p = share * 100;
  if (p >= 9.95) return `${Math.round(p)}%`;
  const text = p.toFixed(1);
  return `${text.endsWith(".0") ? text.slice(0, -2) : text}%`;
}

const confidence = (p) => `${Math.round(p * 100)}%`;
const quoted = (label) => `“${label}”`;

// Whether the answer is known to be the smallest, or only the smallest this search found.
function how(result) {
  return result.minimal ? "The search's answer is the smallest possible with these regions."
    : `The search's answer is the smallest it found in ${result.classifications} classifications.`;
}

// The search's answer in words, beside the user's mask. `result`: /api/search's result; `painted`:
// the share of the model's crop the user's mask hides now (0: nothing painted); `now`: the
// classifier's top class for that mask ({class_index, label, probability}), or null.
export function searchSentence(result, painted = 0, now = null) {
  const label = quoted(result.label);
  const mine = painted > 0 && now ? { share: areaText(painted), same: now.class_index === result.class_index,
    label: quoted(now.label) } : null;
  if (!result.found) {
    const what = result.goal === "keep"
      ? `kept ${label} on top at ${confidence(KEEP_SHARE)} of its confidence with everything else hidden`
      : `changed its mind: ${label} stayed on top`;
    return `Nothing the search tried within ${result.classifications} classifications ${what}.`;
  }
  const area = areaText(result.area);
  if (result.goal === "keep") {
    const keep = `only these ${area} (everything else hidden), it still says ${label} at `
      + `${confidence(result.probability)} (${confidence(result.base_probability)} on the whole photo). ${how(result)}`;
    if (!mine) return `Keeping ${keep}`;
    return `You hid ${mine.share} and it ${mine.same ? "still says" : "says"} ${mine.label}; keeping ${keep}`;
  }
  const after = result.predictions[0];
  const into = `${quoted(after.label)} (${confidence(after.probability)})`;
  let words;
  if (!mine) words = `Hiding these ${area} turns ${label} into ${into}.`;
  else if (mine.same) words = `You hid ${mine.share} and it still says ${label}; hiding these ${area} turns it into ${into}.`;
  else if (mine.share === area) {
    words = `You hid ${mine.share} and it says ${mine.label}: as little as the search's answer, which turns it into ${into}.`;
  } else if (painted < result.area) {
    words = `You hid ${mine.share} and it already says ${mine.label}: less than the ${area} the search needed to turn `
      + `it into ${into}.`;
  } else words = `You hid ${mine.share} and it already says ${mine.label}; hiding only these ${area} turns it into ${into}.`;
  return `${words} ${how(result)}`;
}

// The challenge in one sentence. `base`: the unpainted photo's top class; `now`: the top class for
// the user's mask (null: not classified yet); `painted`: the share the mask hides; `flip`: the
// search's flip result (null while it runs); `best`: the user's best share so far (null: none);
// `ownAnswer`: true when the mask on the canvas is the search's own answer, which does not score.
export function challengeSentence({ base, now, painted, flip, best, ownAnswer = false }) {
  const target = !flip ? "The search is looking for its own answer…"
    : flip.found ? `The search needed ${areaText(flip.area)}.`
      : `The search found no way within ${flip.classifications} classifications.`;
  const record = best == null ? "" : ` Your best on this photo: ${areaText(best)}.`;
  if (!now || now.class_index === base.class_index || !(painted > 0)) {
    return `Hide as little as you can to change its mind about ${quoted(base.label)}. ${target}${record}`;
  }
  if (ownAnswer) return `That is the search's own answer: paint your own to score. ${target}${record}`;
  let verdict = "";
  if (flip?.found) {
    const mine = areaText(painted), its = areaText(flip.area);
    verdict = mine === its ? " As little as the search!" : painted < flip.area ? " Less than the search!" : "";
  }
  const needed = !flip ? "" : flip.found ? `; the search needed ${areaText(flip.area)}` : "; the search found no way";
  return `You changed its mind hiding ${areaText(painted)}${needed}.${verdict}${record}`;
}

// The user's best (smallest) share that changed the model's mind, per photo, model and fill, in
// `storage` (localStorage, or anything with getItem/setItem): it survives a reload.
export class Bests {
  constructor(storage, prefix = "maskscope-challenge") {
    this.storage = storage;
    this.prefix = prefix;
  }

  key({ imageId, model, fill }) { return `${this.prefix}:${imageId}:${model}:${fill}`; }

  // The best share so far, or null.
  get(what) {
    let value = null;
    try { value = this.storage.getItem(this.key(what)); } catch { /* storage refused: no best */ }
    const share = value == null ? NaN : Number(value);
    return Number.isFinite(share) ? share : null;
  }

  // A share that changed its mind: kept when it is the best. Returns the best, and whether this was it.
  offer(what, share) {
    const best = this.get(what);
    if (best != null && best <= share) return { best, improved: false };
    try { this.storage.setItem(this.key(what), String(share)); } catch { /* kept for this page only */ }
    return { best: share, improved: true };
  }
}

// RGBA pixels of the overlay for a width x height `hidden` mask (1 where the answer hides): the
// regions the sentence names (for a flip the hidden ones, for a keep the kept ones), tinted, with
// a solid edge so small regions show at any zoom.
export function overlayPixels(hidden, width, height, keep, [r, g, b] = OVERLAY_RGB) {
  const shown = (x, y) => x >= 0 && y >= 0 && x < width && y < height && (hidden[y * width + x] ? !keep : keep);
  const out = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!shown(x, y)) continue;
      let edge = false;
      for (let d = 1; d <= OVERLAY_EDGE_PX && !edge; d++) {
        edge = !shown(x - d, y) || !shown(x + d, y) || !shown(x, y - d) || !shown(x, y + d);
      }
      out.set([r, g, b, edge ? 255 : OVERLAY_FILL_ALPHA], (y * width + x) * 4);
    }
  }
  return out;
}
