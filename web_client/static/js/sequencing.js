// Which answer the page shows: requests are numbered in the order they are made; an answer to an
// older request than the one already shown is stale (a newer answer is on screen). Live mode's
// requests wait here for their answers. Pure (tested in Node).

export class Sequencer {
  constructor() {
    this.last = 0;
    this.shown = 0;
    this.pending = new Map(); // sequence -> what the page needs when its answer comes
  }

  next() { return ++this.last; }

  isStale(sequence) { return sequence < this.shown; }

  // Whether no request was made after this one.
  isLatest(sequence) { return sequence === this.last; }

  // An answer is on screen: older ones are stale from now on.
  show(sequence) { this.shown = Math.max(this.shown, sequence); }

  wait(sequence, entry) { this.pending.set(sequence, entry); }

  // The entry of the request this answer is for; it and every older one stop waiting (latest wins:
  // the service skips older requests of a stream).
  settle(sequence) {
    const entry = this.pending.get(sequence);
    for (const waiting of this.pending.keys()) if (waiting <= sequence) this.pending.delete(waiting);
    return entry;
  }

  forget() { this.pending.clear(); }
}
