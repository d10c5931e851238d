// The painting page's session without the page: the photo and the service's id for it, the
// unpainted photo's answer every change is measured against, the pinned class, what to run again
// once the service is back, which answers may still be shown, and the one rule for a photo the
// service has forgotten. Pure (tested in Node); main.js wires it to the page and api.js.
import { pinOn } from "./history.js";
import { Sequencer } from "./sequencing.js";

export const LIVE_INTERVAL_MS = 90; // while painting in live mode, at most one mask per interval

// The service answered NOT_FOUND to a request that named the photo by its image id: it has
// forgotten the photo (it restarted, evicted it, or the request met another front-end), and the
// answer is to send the photo itself once more. A request that carried the photo is never about
// a forgotten photo (its NOT_FOUND is an unknown model), so the rule cannot loop.
export function forgotten(error, sent) {
  return error?.code === "NOT_FOUND" && Boolean(sent?.imageId) && !sent.image;
}

export class PaintingSession {
  constructor() {
    this.photo = null; // {blob, name}
    this.imageId = null; // the service's name for the photo; null: a request carries the photo itself
    this.photoSentAt = 0; // the number of the last request that carried the photo itself
    this.heldBack = null; // live frames held while the photo went again: null none, else whether one was final
    this.baseline = null; // the unpainted photo's answer: {probabilities: Map(index -> p), top, sequence}
    this.pinned = null; // {class_index, label}: followed through the history
    this.retry = null; // what to run again once the inference service is back
    this.offline = false;
    this.lastLiveSend = 0; // when the last live frame went, in ms (performance.now())
    this.limits = null; // the web app's limits (GET /api/limits), once read: {upload_bytes, ...}
    this.requests = new Sequencer(); // the stale-answer rule, and live requests awaiting answers
    this.comparisons = new Sequencer(); // the second model's requests
  }

  // A new photo: nothing the service said about the last one holds for it.
  open(photo) {
    this.photo = photo;
    this.imageId = null;
    this.photoSentAt = 0;
    this.heldBack = null;
    this.baseline = null;
    this.requests.forget();
  }

  // Why a file cannot be the photo (null: it can). The web app checks again; this saves the upload.
  refusal({ type, size }, name) {
    if (type && !type.startsWith("image/")) return `"${name}" is not an image. Choose a photo (JPEG, PNG, WebP, ...).`;
    const limit = this.limits?.upload_bytes;
    if (limit && size > limit) {
      const mb = (bytes) => Number((bytes / 2 ** 20).toFixed(1));
      return `"${name}" is too large (${(size / 2 ** 20).toFixed(1)} MB); the limit is ${mb(limit)} MB.`;
    }
    return null;
  }

  // A request's number and how it names the photo: by id once the service has one, else the
  // photo itself (`itself`: always, as the unpainted photo's classification does).
  nextRequest(itself = false) {
    const sequence = this.requests.next();
    if (this.imageId && !itself) return { sequence, imageId: this.imageId };
    this.photoSentAt = sequence;
    return { sequence, image: this.photo.blob };
  }

  // The rule for a forgotten photo, once `forgotten(error, sent)` holds: the id is dropped, so the
  // next request carries the photo itself. True when that request must go now; false when one that
  // carries the photo went after `sent` already (its answer is newer and brings the id back).
  forget(sent) {
    if (sent.sequence < this.photoSentAt) return false;
    this.imageId = null;
    return true;
  }

  // An answer about `photo`: its id is known from now on. Live frames held back meanwhile: null
  // when there were none, else whether one was final; the newest must go now.
  answered(photo, result) {
    if (photo !== this.photo) return null;
    this.imageId = result.image_id;
    const held = this.heldBack;
    this.heldBack = null;
    return held;
  }

  // The unpainted photo's answer, which has every class. True the first time the service answers
  // about this photo (its regions can be asked for from then on).
  answeredBaseline(photo, result, sequence) {
    const firstSight = !this.imageId;
    this.answered(photo, result);
    this.baseline = { probabilities: new Map(result.predictions.map((p) => [p.class_index, p.probability])),
      top: result.predictions[0], sequence };
    return firstSight;
  }

  // The pinned class on the unpainted photo, as an answer's `tracked`.
  trackedOnBaseline() {
    if (!this.pinned) return [];
    return [{ ...this.pinned, probability: this.baseline.probabilities.get(this.pinned.class_index) ?? 0 }];
  }

  // The classes a painted photo's answer follows whatever their rank: the unpainted photo's top
  // (to show when it drops out of the top 5) and the pinned one.
  tracked() {
    const track = [this.baseline.top.class_index];
    if (this.pinned && this.pinned.class_index !== track[0]) track.push(this.pinned.class_index);
    return track;
  }

  pin(classIndex, label) { this.pinned = { class_index: classIndex, label }; }

  unpin() { this.pinned = null; }

  // Another model, with these labels: its answer to the unpainted photo is still to come, and the
  // pin follows its label there. True when the pin was dropped (that model has no such class).
  changeModel(labels) {
    this.baseline = null;
    const had = Boolean(this.pinned);
    this.pinned = pinOn(this.pinned, labels);
    return had && !this.pinned;
  }

  // How long a live frame must wait before it may go (<= 0: now).
  liveWait(now) { return LIVE_INTERVAL_MS - (now - this.lastLiveSend); }

  // Whether a live frame (`final`: the end of a stroke) may go at `now`; if so it goes then, and
  // the interval counts from it. Not before the unpainted photo's answer, nor while the photo is on
  // its way again (a frame would name a photo the service does not have yet; the newest goes once
  // it is back, as final if any held frame was).
  liveMayGo(now, final) {
    if (!this.photo || !this.baseline) return false;
    if (!this.imageId) { this.heldBack = Boolean(this.heldBack) || final; return false; }
    this.lastLiveSend = now;
    return true;
  }

  // The service is away: `retry` runs once it is back (the newest wins). True when the page must
  // start watching for it, false when it is watching already.
  wentAway(retry) {
    this.retry = retry;
    if (this.offline) return false;
    this.offline = true;
    return true;
  }

  // The service is back: what to run again (once).
  cameBack() {
    this.offline = false;
    const retry = this.retry;
    this.retry = null;
    return retry;
  }
}
